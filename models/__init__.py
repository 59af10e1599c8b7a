"""GLM-4 model layer: chat protocol, tool-call parser, backends and tiny test checkpoints."""
