"""Every string the UI shows, in English and Chinese, in one catalogue.

`t("area.key", name=value)` returns the text in the session's language: the one chosen in the sidebar,
else the browser's (`st.context.locale`), else English. Keys are grouped by area (`chat.`, `docs.`,
`vision.`, `sidebar.`, ...); each entry is `(English, 中文)` with the same `{placeholders}`. A count
has two entries, `key.one` and `key.other`, chosen by `plural(key, n)`.
"""

from __future__ import annotations

from collections.abc import Mapping

import streamlit as st

LANGUAGES = ("en", "zh")
LANGUAGE_NAMES = {"en": "English", "zh": "中文"}
LANGUAGE_KEY = "ui_language"
PICKER_KEY = "ui-language-picker"

CATALOGUE: dict[str, tuple[str, str]] = {
    "sidebar.language": ("Language", "语言"),
    "sidebar.thinking": ("Thinking", "深度思考"),
    "sidebar.thinking_help": (
        "For thinking models (GLM-4.5, 4.6, 4.7): reason before answering. Off answers at once "
        "(the model is told /nothink). Other models ignore it.",
        "适用于会思考的模型（GLM-4.5、4.6、4.7）：先推理再回答。关闭后直接回答"
        "（向模型发送 /nothink）。其他模型不受影响。",
    ),
    "gate.wait": (
        "Too many failed attempts. Try again in {seconds} s.",
        "失败次数过多，请 {seconds} 秒后再试。",
    ),
    "gate.wrong": ("Wrong user name or password.", "用户名或密码错误。"),
    "image.unreadable": (
        "{name} can't be shown: it isn't a readable image",
        "无法显示 {name}：不是可读取的图像",
    ),
    "turn.stale": (
        "This conversation changed in another tab, so it was reloaded and nothing was replaced. "
        "Your message was not sent: {question}",
        "此对话已在另一个标签页中更改，因此已重新加载，未替换任何内容。你的消息未发送：{question}",
    ),
    "turn.running_elsewhere": (
        "A turn is running in this conversation in another tab; it was reloaded. Send again when that "
        "turn has finished. Your message: {question}",
        "此对话正在另一个标签页中运行一轮回答，已重新加载。请在那一轮结束后再发送。你的消息：{question}",
    ),
    "turn.closed_elsewhere": (
        "Another tab closed this turn as interrupted while it ran; the conversation was reloaded as stored.",
        "另一个标签页在这一轮运行时将其标记为中断；对话已按存储内容重新加载。",
    ),
    "turn.interrupted": (
        "interrupted: the page was reloaded or closed before this turn ended",
        "已中断：这一轮结束前页面被重新加载或关闭",
    ),
    "gate.exposed": (
        "This app is reachable from other machines and nobody signs in: anyone who can reach it "
        "uses it as you. Set GLM_AUTH, or start it on 127.0.0.1 (see the README).",
        "本应用可被其他机器访问且未启用登录：任何能访问它的人都以你的身份使用它。"
        "请设置 GLM_AUTH，或只在 127.0.0.1 上启动（见 README）。",
    ),
    "common.and": (" and ", "、"),
    "file.too_big": (
        "{name}: it is too large or too complex to read within the parser's {mb} MiB memory limit "
        "(GLM_DOC_PARSE_MEMORY_MB); split it into smaller files, or ask whoever runs the app to raise the "
        "limit",
        "{name}：文件太大或太复杂，无法在解析器 {mb} MiB 的内存限制内读取（GLM_DOC_PARSE_MEMORY_MB）；"
        "请把它拆成较小的文件，或请应用的管理员提高该限制",
    ),
    "file.pdf_structure": (
        "{name}: the PDF's internal structure is broken (its page tree or cross-reference table can't be "
        "followed); open it in a PDF viewer, print or save it as a new PDF, and upload that",
        "{name}：该 PDF 的内部结构已损坏（无法读取其页面树或交叉引用表）；请用 PDF 阅读器打开，"
        "打印或另存为新的 PDF 后再上传",
    ),
    "file.broken_xml": (
        "{name}: not a readable {what}: its XML is broken (the file is damaged or was cut short); open it "
        "in the program that made it, save it again and upload that",
        "{name}：无法读取此 {what}：其 XML 已损坏（文件损坏或不完整）；"
        "请用创建它的程序打开，重新保存后再上传",
    ),
    "file.cut_short": (
        "{name}: not a readable {what}: it is cut short or damaged (its archive can't be unpacked); open it "
        "in the program that made it, save it again and upload that",
        "{name}：无法读取此 {what}：文件不完整或已损坏（无法解压）；请用创建它的程序打开，重新保存后再上传",
    ),
    "file.missing_part": (
        "{name}: not a readable {what}: a part it refers to is missing (the file is damaged or was made by "
        "a faulty program); open it in the program that made it, save it again and upload that",
        "{name}：无法读取此 {what}：缺少它引用的部分（文件损坏或由有缺陷的程序生成）；"
        "请用创建它的程序打开，重新保存后再上传",
    ),
    "file.damaged": (
        "{name}: not a readable {what}: it is damaged or built in a way the reader doesn't handle; open it "
        "in the program that made it, save it again and upload that",
        "{name}：无法读取此 {what}：文件已损坏，或其结构无法被解析；请用创建它的程序打开，重新保存后再上传",
    ),
    "file.other_format": (
        "{name}: {label} files aren't read here; save it as {instead} in the program that made it and "
        "upload that",
        "{name}：不支持 {label} 文件；请在创建它的程序中另存为 {instead} 后再上传",
    ),
    "file.pdf_password": (
        "{name}: the PDF is password-protected; remove the password and upload it again",
        "{name}：该 PDF 受密码保护；请移除密码后重新上传",
    ),
    "image.no_area": (
        "{name} has no area ({width}×{height}) and can't be shown to the model.",
        "{name} 没有面积（{width}×{height}），无法提供给模型。",
    ),
    "image.strip": (
        "{name} is {width}×{height}, a {ratio}:1 strip; the model reads images up to {limit}:1. "
        "Crop it into shorter pieces.",
        "{name} 为 {width}×{height}，是 {ratio}:1 的长条；模型最多读取 {limit}:1 的图像。请裁成较短的几段。",
    ),
    "image.damaged": (
        "{name} is damaged or truncated and can't be read.",
        "{name} 已损坏或不完整，无法读取。",
    ),
    "image.undecodable": (
        "{name} is a {format} image Pillow can't decode (an unusual variant or a damaged file); "
        "save it again as an ordinary PNG or JPEG and upload that.",
        "{name} 是 Pillow 无法解码的 {format} 图像（少见的变体或文件已损坏）；"
        "请另存为普通的 PNG 或 JPEG 后再上传。",
    ),
    "image.bomb": (
        "{name} declares an enormous size and was refused as a decompression bomb.",
        "{name} 声明了极大的尺寸，作为解压炸弹被拒绝。",
    ),
    "image.megapixels": (
        "{name} is {width}×{height} pixels, more than the {limit} megapixel limit "
        "(such files can be decompression bombs).",
        "{name} 为 {width}×{height} 像素，超过 {limit} 百万像素的上限（这类文件可能是解压炸弹）。",
    ),
    "image.other_format": (
        "{name} is a {format} image; use PNG, JPEG, WebP, BMP, TIFF or GIF.",
        "{name} 是 {format} 图像；请使用 PNG、JPEG、WebP、BMP、TIFF 或 GIF。",
    ),
    "image.not_image": (
        "{name} is not an image we can read (PNG, JPEG, WebP, BMP, TIFF or GIF).",
        "{name} 不是可读取的图像（支持 PNG、JPEG、WebP、BMP、TIFF 或 GIF）。",
    ),
    "image.upload_size": (
        "{name} is {size} MB, over the {limit} MB upload limit (GLM_MAX_UPLOAD_MB).",
        "{name} 大小为 {size} MB，超过 {limit} MB 的上传上限（GLM_MAX_UPLOAD_MB）。",
    ),
    # navigation
    "nav.chat": ("All Tools", "全能工具"),
    "nav.documents": ("Long document", "长文档"),
    "nav.vision": ("Vision", "视觉理解"),
    # sign-in and settings problems
    "signin.button": ("Sign in", "登录"),
    "signin.user": ("User name", "用户名"),
    "signin.password": ("Password", "密码"),
    "signin.sign_out": ("Sign out", "退出登录"),
    "signin.no_claims": (
        "The identity provider returned no 'iss'/'sub' claims; sign-in can't tell who you are.",
        "身份提供方没有返回 'iss'/'sub' 声明，无法确认您的身份。",
    ),
    "signin.needs_authlib": (
        "GLM_AUTH=oidc needs Authlib: `pip install 'streamlit[auth]'`.",
        "GLM_AUTH=oidc 需要 Authlib：`pip install 'streamlit[auth]'`。",
    ),
    "signin.needs_secrets": (
        "GLM_AUTH=oidc needs an [auth] section in .streamlit/secrets.toml with {missing} and the "
        "provider's client_id, client_secret and server_metadata_url.",
        "GLM_AUTH=oidc 需要在 .streamlit/secrets.toml 中添加 [auth] 一节，包含 {missing}，"
        "以及身份提供方的 client_id、client_secret 和 server_metadata_url。",
    ),
    "settings.fix_env": (
        "Fix these environment variables and restart the app (see the README's configuration table).",
        "请修正这些环境变量后重启应用（见 README 中的配置表）。",
    ),
    "settings.fix_first": ("The settings above need fixing first", "请先修正上面的设置"),
    # models
    "nav.models": ("Models", "模型设置"),
    "models.admins_only": (
        "Only administrators can change the models. Ask yours, or see GLM_ADMINS in the README.",
        "只有管理员可以更改模型。请联系管理员，或参阅 README 中的 GLM_ADMINS。",
    ),
    "models.intro": (
        "Connect the text model and the vision model. Saved in {file}; GLM_* environment variables, "
        "when set, win over what is saved here.",
        "连接文本模型和视觉模型。设置保存在 {file}；若设置了 GLM_* 环境变量，则以环境变量为准。",
    ),
    "models.first_served": ("the server's first model", "服务器的第一个模型"),
    "models.nothing_yet": ("nothing yet", "尚未设置"),
    "models.text": ("Text model", "文本模型"),
    "models.vision": ("Vision model", "视觉模型"),
    "models.in_use": ("In use now: {model}", "当前使用：{model}"),
    "models.env_wins": (
        "Set in the environment, and used instead of what you save here: {names}",
        "以下变量已在环境中设置，将代替此处保存的值：{names}",
    ),
    "models.source": ("Where the model runs", "模型运行位置"),
    "models.source_server": (
        "A server (vLLM, SGLang, any OpenAI-compatible API)",
        "服务器（vLLM、SGLang 或任何兼容 OpenAI 的 API）",
    ),
    "models.source_folder": ("A checkpoint folder on this machine", "本机上的模型文件夹"),
    "models.api_base": ("Base URL", "接口地址"),
    "models.api_key": ("API key", "API 密钥"),
    "models.api_key_kept": ("(saved; leave empty to keep it)", "（已保存；留空则保持不变）"),
    "models.api_mode": ("Mode", "接口模式"),
    "models.api_mode_help": (
        "auto: ask the server and use completions for GLM models it can render, chat otherwise. chat: the "
        "server renders the prompt and parses tool calls. completions: GLM Studio renders the GLM prompt "
        "and parses the output itself.",
        "auto：询问服务器，能渲染的 GLM 模型用 completions，否则用 chat。"
        "chat：由服务器渲染提示并解析工具调用。completions：由 GLM Studio 渲染 GLM 提示并自行解析输出。",
    ),
    "models.name": ("Model name", "模型名称"),
    "models.name_placeholder": ("Empty: the server's first model", "留空：使用服务器的第一个模型"),
    "models.test": ("Test connection", "测试连接"),
    "models.unreachable": ("Can't reach the server: {why}", "无法连接服务器：{why}"),
    "models.none_served": ("The server answered but lists no models.", "服务器有响应，但没有列出任何模型。"),
    "models.reachable.one": ("Connected: the server serves 1 model.", "连接成功：服务器提供 1 个模型。"),
    "models.reachable.other": (
        "Connected: the server serves {n} models.",
        "连接成功：服务器提供 {n} 个模型。",
    ),
    "models.served": ("Model", "模型"),
    "models.context": ("Context length (tokens)", "上下文长度（token）"),
    "models.folder": ("Checkpoint folder", "模型文件夹"),
    "models.not_a_checkpoint": (
        "{folder} has no config.json: it isn't a checkpoint folder.",
        "{folder} 中没有 config.json，不是模型文件夹。",
    ),
    "models.save": ("Save", "保存"),
    "models.saved": ("Saved. Every workspace uses it from now on.", "已保存，所有工作区将立即使用新设置。"),
    "models.tiny_title": ("No weights yet?", "还没有模型权重？"),
    "models.tiny_about": (
        "Build two tiny random-weight models (text and vision, a few MB) to try the app on any CPU. "
        "They answer in gibberish, through the real loading and chat code.",
        "生成两个很小的随机权重模型（文本和视觉，仅几 MB），可在任何 CPU 上试用本应用。"
        "它们的回答是无意义的文字，但走的是真实的加载和对话流程。",
    ),
    "models.tiny_button": ("Create a tiny demo model", "创建微型演示模型"),
    "models.tiny_building": ("Building the tiny demo models…", "正在生成微型演示模型…"),
    "models.tiny_text": (
        "Text model (GLM-4 tokenizer and chat template)…",
        "文本模型（GLM-4 分词器和对话模板）…",
    ),
    "models.tiny_vision": ("Vision model (GLM-4V with its processor)…", "视觉模型（GLM-4V 及其处理器）…"),
    "models.tiny_done": ("The tiny demo models are ready and in use.", "微型演示模型已就绪并已启用。"),
    "models.tiny_try": ("Try it in All Tools", "去“全能工具”试试"),
    "empty.chat": (
        ":material/construction: **{model}** is ready. Ask anything: it can run Python in a sandbox "
        "(tables, plots and files come back), search and read the web with cited sources, and call the "
        "tools listed in the sidebar.",
        ":material/construction: **{model}** 已就绪。尽管提问：它可以在沙箱中运行 Python"
        "（返回表格、图表和文件），搜索并阅读网页并注明来源，还能调用侧边栏列出的工具。",
    ),
    "empty.documents": (
        ":material/description: **{model}** is ready. Add PDF, Word, PowerPoint, HTML, CSV, Markdown or "
        "text files above and ask about them: short documents are read whole, long ones searched, and "
        "answers cite the file and page.",
        ":material/description: **{model}** 已就绪。在上方添加 PDF、Word、PowerPoint、HTML、CSV、Markdown "
        "或文本文件后即可提问：短文档整篇阅读，长文档检索相关段落，回答会注明文件和页码。",
    ),
    "empty.vision": (
        ":material/image: **{model}** is ready. Attach images with the + in the chat box (or a PDF page "
        "from the sidebar) and ask about them: describe, read text, compare, explain charts.",
        ":material/image: **{model}** 已就绪。点击输入框中的 + 添加图片（或从侧边栏附加 PDF 的某一页）"
        "后提问：描述画面、识别文字、比较图片、解读图表。",
    ),
    "welcome.title": ("Welcome to GLM Studio", "欢迎使用 GLM Studio"),
    "welcome.text": (
        "No {kind} model is connected yet. On the Models page you can connect a server or a checkpoint "
        "folder, or create a tiny demo model in a minute.",
        "尚未连接{kind}模型。在“模型设置”页面中可以连接服务器或本地模型文件夹，"
        "也可以在一分钟内创建一个微型演示模型。",
    ),
    "welcome.open": ("Open Models", "打开模型设置"),
    "welcome.ask_admin": (
        "No {kind} model is connected yet. Ask an administrator to connect one on the Models page.",
        "尚未连接{kind}模型。请联系管理员在“模型设置”页面中连接。",
    ),
    "welcome.kind_text": ("text", "文本"),
    "welcome.kind_vision": ("vision", "视觉"),
    "model.loading": ("Loading {model}…", "正在加载 {model}…"),
    "model.retry_load": ("Try loading again", "重新加载"),
    "model.load_failed": ("Couldn't load {model}: {why}", "无法加载 {model}：{why}"),
    "model.in_process": ("in-process", "本进程内"),
    "model.text_unavailable": ("The text model isn't available", "文本模型不可用"),
    "model.vision_unavailable": ("The vision model isn't available", "视觉模型不可用"),
    "model.vision_failed": ("The vision model failed: {why}", "视觉模型出错：{why}"),
    # conversations sidebar
    "conv.new": ("New chat", "新对话"),
    "conv.search": ("Search conversations", "搜索对话"),
    "conv.search_placeholder": ("Search titles", "搜索标题"),
    "conv.group_today": ("Today", "今天"),
    "conv.group_yesterday": ("Yesterday", "昨天"),
    "conv.group_earlier": ("Earlier", "更早"),
    "conv.no_match": ("No conversation title matches.", "没有标题匹配的对话。"),
    "conv.more": ("Show more", "显示更多"),
    "conv.untitled": ("New conversation", "新对话"),
    "conv.this": ("This conversation", "当前对话"),
    "conv.title": ("Title", "标题"),
    "conv.notebook": ("Notebook (.ipynb)", "笔记本 (.ipynb)"),
    "conv.delete": ("Delete", "删除"),
    "conv.delete_confirm": (
        "Delete this conversation, its documents and its files? This can't be undone.",
        "删除此对话及其文档和文件？此操作无法撤销。",
    ),
    "conv.delete_for_good": ("Delete for good", "永久删除"),
    "conv.not_found": ("That conversation doesn't exist or isn't yours.", "该对话不存在，或不属于您。"),
    # turns
    "turn.stopped_early": (
        "It was stopped before the model wrote anything.",
        "模型还没写出任何内容就被停止了。",
    ),
    "turn.previous_kept": ("The previous answer was kept.", "已保留之前的回答。"),
    "turn.unsaved": (
        "This turn wasn't saved: {why}. It stays on screen until you reload or leave this conversation.",
        "这一轮没有保存：{why}。在您刷新或离开此对话之前，它会一直显示在页面上。",
    ),
    "turn.unsaved_deleted": (
        "This turn wasn't saved: this conversation was deleted (in another tab?). "
        "It stays on screen until you reload or leave this conversation.",
        "这一轮没有保存：此对话已被删除（是在另一个标签页中吗？）。"
        "在您刷新或离开此对话之前，它会一直显示在页面上。",
    ),
    # generation settings
    "gen.title": ("Generation", "生成参数"),
    "gen.temperature": ("Temperature", "温度"),
    "gen.top_p": ("Top p", "Top p 采样"),
    "gen.max_new": ("Max new tokens", "最多生成 token 数"),
    # chat (shared by the workspaces)
    "chat.tools": ("Tools", "工具"),
    "chat.schema": ("{name} schema", "{name} 的参数结构"),
    "chat.placeholder": ("Ask GLM-4…", "向 GLM-4 提问…"),
    # tools from MCP servers (the All Tools sidebar)
    "mcp.servers": ("MCP servers", "MCP 服务器"),
    "mcp.starting": ("Starting the MCP servers…", "正在启动 MCP 服务器…"),
    "mcp.state.ready": ("ready", "就绪"),
    "mcp.state.starting": ("starting", "启动中"),
    "mcp.state.down": ("down", "不可用"),
    "mcp.tools.one": ("1 tool", "1 个工具"),
    "mcp.tools.other": ("{n} tools", "{n} 个工具"),
    "mcp.down": (
        "MCP server {name} is down: {problem} Next attempt in {seconds} s.",
        "MCP 服务器 {name} 不可用：{problem} {seconds} 秒后重试。",
    ),
    "mcp.problem": ("MCP server {name}: {problem}", "MCP 服务器 {name}：{problem}"),
    "mcp.kind.stdio": ("Started by the app (stdio)", "由本应用启动（stdio）"),
    "mcp.kind.http": ("Streamable HTTP", "Streamable HTTP"),
    "mcp.restarts.one": (" · restarted once", " · 已重启 1 次"),
    "mcp.restarts.other": (" · restarted {n} times", " · 已重启 {n} 次"),
    "chat.retry": ("Retry last answer", "重新生成上一条回答"),
    "chat.system_prompt": ("System prompt", "系统提示词"),
    "chat.system_placeholder": ("Optional instructions", "可选的指令"),
    "chat.stop": ("Stop", "停止"),
    "chat.edit": ("Edit last question", "编辑上一个问题"),
    "chat.question": ("Question", "问题"),
    "chat.resend": ("Resend", "重新发送"),
    "chat.stopped": ("stopped", "已停止"),
    "chat.cut_off": (
        "cut off at the max new tokens; raise 'Max new tokens' for more",
        "已达到最多生成 token 数而截断；调高“最多生成 token 数”可获得更长的回答",
    ),
    "chat.trimmed": ("To fit the context window: {what}.", "为放入上下文窗口：{what}。"),
    "chat.trimmed_turns.one": ("the oldest turn left out", "省略了最早的 1 轮对话"),
    "chat.trimmed_turns.other": ("the oldest {n} turns left out", "省略了最早的 {n} 轮对话"),
    "chat.trimmed_outputs.one": ("1 tool output shortened", "缩短了 1 条工具输出"),
    "chat.trimmed_outputs.other": ("{n} tool outputs shortened", "缩短了 {n} 条工具输出"),
    "chat.observation": ("Observation", "工具返回"),
    "chat.more_characters": ("… ({n} more characters)", "…（还有 {n} 个字符）"),
    "chat.thinking": ("Thinking", "思考过程"),
    "step.writing": ("{name}: writing the call…", "{name}：正在编写调用…"),
    "step.running": ("{name}: running…", "{name}：运行中…"),
    "step.clock": ("running for {seconds} s", "已运行 {seconds} 秒"),
    "step.output_live": ("Output so far", "目前的输出"),
    "step.output_partial": ("Output (partial)", "输出（不完整）"),
    "step.no_output": ("No output", "没有输出"),
    "browse.searched": ("searched: {query}", "搜索：{query}"),
    "browse.opened": ("opened 【{id}】 {source}", "打开 【{id}】 {source}"),
    "browse.failed": ("failed: {what}: {why}", "失败：{what}：{why}"),
    "timings.first_token": ("first token", "首个 token"),
    "timings.took": ("took", "耗时"),
    "timings.total": ("total", "总计"),
    "timings.server": ("tokens/s", "token/秒"),
    "timings.tokenizer": ("tokens/s (app's count)", "token/秒（应用计数）"),
    "timings.chunks": ("chunks/s", "块/秒"),
    # the code interpreter's files
    "files.upload_help": ("Up to {mb} MB per file.", "每个文件最大 {mb} MB。"),
    "search.setup": (
        "Set GLM_SEARCH_BACKEND to one of: searxng (with GLM_SEARXNG_URL, e.g. http://127.0.0.1:8888), "
        "duckduckgo (no key), brave (with GLM_BRAVE_API_KEY) or tavily (with GLM_TAVILY_API_KEY).",
        "请把 GLM_SEARCH_BACKEND 设为以下之一：searxng（另设 GLM_SEARXNG_URL，例如 `http://127.0.0.1:8888`）、"
        "duckduckgo（无需密钥）、brave（另设 GLM_BRAVE_API_KEY）或 tavily（另设 GLM_TAVILY_API_KEY）。",
    ),
    "search.off": ("Web search is off. {setup}", "网页搜索未开启。{setup}"),
    "search.unknown": (
        "Unknown GLM_SEARCH_BACKEND {backend!r}. {setup}",
        "未知的 GLM_SEARCH_BACKEND {backend!r}。{setup}",
    ),
    "search.missing": (
        "GLM_SEARCH_BACKEND is {backend!r} but {needed} is not set.",
        "GLM_SEARCH_BACKEND 为 {backend!r}，但未设置 {needed}。",
    ),
    "upload.button": ("Upload", "上传"),
    "upload.per_file": ("Up to {mb} MB per file", "每个文件最大 {mb} MB"),
    "files.upload_busy": (
        "Uploads wait until the answer is finished: an upload now would stop it.",
        "请等回答结束后再上传：现在上传会中断回答。",
    ),
    "files.too_big": (
        "{name} is over the {mb} MB limit and wasn't saved.",
        "{name} 超过 {mb} MB 的上限，未保存。",
    ),
    "files.upload": ("Upload files", "上传文件"),
    "files.not_saved": ("Couldn't save {name}: {why}", "无法保存 {name}：{why}"),
    "files.upload_free": (
        "This conversation's folder has {free} free.",
        "此对话的文件夹还剩 {free} 空间。",
    ),
    "files.no_room": (
        "{name} wasn't saved: the conversation's folder has only {free} free (GLM_KERNEL_DISK_MB).",
        "{name} 未保存：此对话的文件夹只剩 {free} 空间（GLM_KERNEL_DISK_MB）。",
    ),
    "files.title_sandbox": ("Files ({folder})", "文件（{folder}）"),
    "files.title_workdir": ("Files (working directory)", "文件（工作目录）"),
    "files.too_large": (
        "{name} ({size}: too large to download here)",
        "{name}（{size}：太大，无法在此下载）",
    ),
    # long documents
    "docs.semantic_off": (
        "Keyword search (BM25) only: set GLM_EMBED_MODEL or GLM_EMBED_API_BASE to also search by meaning.",
        "仅关键词检索（BM25）：设置 GLM_EMBED_MODEL 或 GLM_EMBED_API_BASE 可同时按语义检索。",
    ),
    "docs.semantic_building": (
        "Semantic index: {done} of {total} passages embedded (questions use keyword search until then)",
        "语义索引：已嵌入 {done} / {total} 个段落（完成前提问使用关键词检索）",
    ),
    "docs.semantic_ready": ("Semantic search ready ({model})", "语义检索已就绪（{model}）"),
    "docs.semantic_failed": (
        "Semantic search unavailable, keyword search only: {reason}",
        "语义检索不可用，仅使用关键词检索：{reason}",
    ),
    "docs.search_hybrid": ("keyword + semantic search", "关键词 + 语义检索"),
    "docs.search_keywords_not_ready": (
        "keyword search only (the semantic index was still being built)",
        "仅关键词检索（语义索引尚未建好）",
    ),
    "docs.expanding": ("Writing search keywords…", "正在生成检索关键词…"),
    "docs.expanded": ("Search keywords", "检索关键词"),
    "docs.expansion_failed": (
        "Search keywords failed ({why}); searching with the question alone",
        "生成检索关键词失败（{why}）；仅用问题本身检索",
    ),
    "docs.keywords": ("also searched for: {keywords}", "另检索了：{keywords}"),
    "docs.add": ("Add documents", "添加文档"),
    "docs.add_help": (
        "PDF, DOCX, PPTX, HTML, CSV, Markdown, text or code; up to {mb} MB per file.",
        "支持 PDF、DOCX、PPTX、HTML、CSV、Markdown、纯文本或代码；每个文件最大 {mb} MB。",
    ),
    "docs.placeholder": ("Ask about your documents…", "就您的文档提问…"),
    "docs.reading": ("Reading {name}…", "正在读取 {name}…"),
    "docs.reading_progress": ("Reading {name}: {done} of {total}", "正在读取 {name}：{done}/{total}"),
    "docs.rereading": ("Reading {name} again from the stored original…", "正在从保存的原件重新读取 {name}…"),
    "docs.indexing": ("Indexing {n} passages…", "正在为 {n} 个段落建立索引…"),
    "docs.kind_text": ("text", "文本"),
    "docs.label_page": ("p. {n}", "第 {n} 页"),
    "docs.label_line": ("line {start}", "第 {start} 行"),
    "docs.label_lines": ("lines {start}-{end}", "第 {start}-{end} 行"),
    "docs.label_part": ("part {n}", "第 {n} 部分"),
    "docs.label_slide": ("slide {n}", "第 {n} 张幻灯片"),
    "docs.pages.one": ("1 page", "1 页"),
    "docs.pages.other": ("{n} pages", "{n} 页"),
    "docs.slides.one": ("1 slide", "1 张幻灯片"),
    "docs.slides.other": ("{n} slides", "{n} 张幻灯片"),
    "docs.sections.one": ("1 section", "1 节"),
    "docs.sections.other": ("{n} sections", "{n} 节"),
    "docs.parts.one": ("1 part", "1 个部分"),
    "docs.parts.other": ("{n} parts", "{n} 个部分"),
    "docs.remove": ("Remove {name}", "移除 {name}"),
    "docs.file_gone": ("This file is no longer open in the conversation.", "此文件已不在当前对话中。"),
    "docs.page": ("Page", "页"),
    "docs.no_room": (
        "No document text was sent: the conversation, the question and the room kept for the answer "
        "filled the context window (about {prompt} tokens of prompt). Start a new chat, or lower the "
        "answer length in the sidebar.",
        "没有发送任何文档内容：对话、问题和为回答预留的空间已占满上下文窗口（提示约 {prompt} 个 token）。"
        "请新建对话，或在侧边栏调低回答长度。",
    ),
    "docs.strategy_whole": ("sent whole", "全文发送"),
    "docs.strategy_retrieved": ("best passages retrieved", "检索最相关的段落"),
    "docs.sent": (
        "{tokens} tokens of documents sent (room for {budget})",
        "已发送 {tokens} 个 token 的文档内容（上限 {budget}）",
    ),
    "docs.sent_prompt": ("; about {prompt} in the whole prompt", "；整个提示约 {prompt} 个 token"),
    "docs.whole_file": ("whole file ({count})", "全文（{count}）"),
    "docs.whole_file_alone": ("whole file", "全文"),
    "docs.cite_opens": ("Open this page in a new tab", "在新标签页中打开此页"),
    "docs.page_text": ("The page's text, as the model read it:", "模型读取的本页文本："),
    "docs.page_not_shown": ("The page can't be shown as it looks: {why}", "无法按原样显示此页：{why}"),
    # vision
    "vision.placeholder": ("Ask about your images…", "就您的图片提问…"),
    "vision.cant_show": ("{name} can't be shown", "无法显示 {name}"),
    "vision.pdf_page": ("Ask about a PDF page", "就 PDF 的某一页提问"),
    "vision.pdf": ("PDF", "PDF 文件"),
    "vision.page_of": ("Page (of {pages})", "页码（共 {pages} 页）"),
    "vision.attach_page": ("Attach this page to my next message", "把这一页附加到我的下一条消息"),
    "vision.already_attached": ("{name} is already attached.", "{name} 已经附加。"),
    "vision.staged": ("Attached to your next message:", "将附加到您的下一条消息："),
    "vision.unstage": ("Remove attachments", "移除附件"),
    "vision.refused": ("{reason} Nothing was sent.", "{reason} 没有发送任何内容。"),
    "vision.kept_message": (
        "Your message, kept here to copy into the chat box",
        "您的消息保留在这里，可复制到输入框",
    ),
    "vision.dismiss": ("Dismiss", "关闭"),
    "vision.any_images": ("any number of images per conversation", "每个对话的图片数量不限"),
    "vision.images_max.one": ("up to 1 image per conversation", "每个对话最多 1 张图片"),
    "vision.images_max.other": ("up to {n} images per conversation", "每个对话最多 {n} 张图片"),
    "cogview.progress.steps": ("Drawing: step {done} of {total}", "正在绘制：第 {done} / {total} 步"),
    "cogview.progress.waiting.one": (
        "Waiting for the image generator: one image is being drawn before this one",
        "等待图像生成：前面还有 1 张图片",
    ),
    "cogview.progress.waiting.other": (
        "Waiting for the image generator: {n} images are ahead of this one",
        "等待图像生成：前面还有 {n} 张图片",
    ),
    "cogview.progress.loading": (
        "Loading the CogView model (once per process)…",
        "正在加载 CogView 模型（每个进程只加载一次）…",
    ),
    "cogview.progress.requesting": ("Asking the images API…", "正在请求图像生成接口…"),
    "cogview.progress.downloading": ("Downloading the image…", "正在下载图片…"),
    "cogview.sidebar.off": (
        "Image generation (cogview) is off. To turn it on, set GLM_IMAGE_MODEL to a CogView4 folder or "
        "hub id (such as THUDM/CogView4-6B), or GLM_IMAGE_API_BASE to an OpenAI-compatible images API.",
        "图像生成（cogview）未开启。如需开启，请将 GLM_IMAGE_MODEL 设为 CogView4 模型文件夹或 Hub ID"
        "（例如 THUDM/CogView4-6B），或将 GLM_IMAGE_API_BASE 设为兼容 OpenAI 的图像生成接口。",
    ),
    "cogview.sidebar.api": ("Images: {model} at {base}, {size}", "图像：{model}（{base}），{size}"),
    "cogview.sidebar.local": (
        "Images: {model} in-process, {size}, {steps} steps",
        "图像：{model}（本进程运行），{size}，{steps} 步",
    ),
    "cogview.sidebar.not_loaded": (
        "The CogView model loads on the first image.",
        "CogView 模型将在生成第一张图片时加载。",
    ),
    "cogview.sidebar.cpu": ("CogView runs on the CPU (slow).", "CogView 在 CPU 上运行（较慢）。"),
    "cogview.sidebar.gpu": ("CogView runs on the GPU.", "CogView 在 GPU 上运行。"),
    "cogview.sidebar.offload": (
        "CogView needs {needed:.1f} GiB of GPU memory but {free:.1f} GiB was free beside the text model: "
        "its parts are moved to the GPU one at a time (slower).",
        "CogView 需要 {needed:.1f} GiB 显存，但在文本模型之外只剩 {free:.1f} GiB："
        "其各部分轮流移到 GPU 上运行（较慢）。",
    ),
    "cogview.sidebar.cpu_fallback": (
        "CogView needs {needed:.1f} GiB of GPU memory but {free:.1f} GiB was free, and offloading "
        "needs the accelerate package: it runs on the CPU (slow).",
        "CogView 需要 {needed:.1f} GiB 显存，但只剩 {free:.1f} GiB，"
        "且分批卸载需要 accelerate 包：它将在 CPU 上运行（较慢）。",
    ),
    "api.fallback_to_completions": (
        "The server refused tools in chat mode for {model} (it was started without a tool-call parser), "
        "so GLM Studio now sends raw completions and parses the tool calls itself. Set GLM_API_MODE to "
        "silence this note.",
        "服务器在 chat 模式下拒绝了 {model} 的工具调用（启动时没有指定工具调用解析器），"
        "GLM Studio 已改用原始 completions 接口，并自行解析工具调用。设置 GLM_API_MODE 可不再显示此提示。",
    ),
    "timings.estimate": ("tokens/s (estimated)", "token/秒（估算）"),
    "model_error.too_long": (
        "The model server refused this question: with the answer's room it is longer than the model's "
        "context (HTTP {status}: {detail}).\n\nNothing was generated. The question stays in the "
        "conversation but won't be sent again: ask again, shorter, and the conversation goes on.",
        "模型服务器拒绝了这个问题：加上回答所需的空间，它超出了模型的上下文长度（HTTP {status}：{detail}）。"
        "\n\n没有生成任何内容。这个问题仍保留在对话中，但不会再次发送：请把问题缩短后重新提问，对话即可继续。",
    ),
    "model_error.bad_request": (
        "The model server refused this request (HTTP {status}): {detail}\n\nNothing was generated. "
        "This question stays in the conversation but won't be sent again: ask again (shorter, or after "
        "changing the settings) and the conversation goes on.",
        "模型服务器拒绝了这个请求（HTTP {status}）：{detail}\n\n没有生成任何内容。这个问题仍保留在对话中，"
        "但不会再次发送：请重新提问（缩短问题，或修改设置后），对话即可继续。",
    ),
    "model_error.lost": (
        "The connection to the model server was lost ({detail}). What arrived is kept; once the server "
        "is back, ask again or press Retry.",
        "与模型服务器的连接中断了（{detail}）。已收到的内容会保留；服务器恢复后，请重新提问或点击“重试”。",
    ),
    "model_error.unreachable": (
        "Can't reach the model server ({detail}). Nothing was sent; once the server is running, ask "
        "again or press Retry.",
        "无法连接模型服务器（{detail}）。没有发送任何内容；服务器运行后，请重新提问或点击“重试”。",
    ),
    "model_error.failed": ("The model failed: {why}", "模型出错：{why}"),
    "model_error.vision_unreachable": (
        "Can't reach the OpenAI-compatible server at GLM_VISION_API_BASE={api_base} ({detail}). Start "
        "the server or set GLM_VISION_API_BASE / GLM_VISION_API_KEY (when unset, the vision model is "
        "asked for at GLM_API_BASE with GLM_API_KEY).",
        "无法连接 GLM_VISION_API_BASE={api_base} 上的 OpenAI 兼容服务器（{detail}）。请启动服务器，"
        "或设置 GLM_VISION_API_BASE / GLM_VISION_API_KEY"
        "（未设置时，会用 GLM_API_KEY 向 GLM_API_BASE 请求视觉模型）。",
    ),
    "model_error.vision_refused": (
        "The server at GLM_VISION_API_BASE={api_base} refused the request for GLM_VISION_MODEL={model} "
        "(HTTP {status}: {detail}).",
        "GLM_VISION_API_BASE={api_base} 上的服务器拒绝了对 GLM_VISION_MODEL={model} 的请求"
        "（HTTP {status}：{detail}）。",
    ),
    "model_error.prompt_too_long": (
        "This turn needs {tokens} tokens of prompt, but the context window of {window} tokens leaves "
        "only {room} for the answer. Shorten the message or raise GLM_MAX_CONTEXT.",
        "这一轮的提示需要 {tokens} 个 token，而 {window} 个 token 的上下文窗口只给回答留下 {room} 个。"
        "请缩短消息，或调大 GLM_MAX_CONTEXT。",
    ),
    "model_error.prompt_too_long_estimated": (
        "This turn needs about {tokens} tokens of prompt, but the context window of {window} tokens "
        "leaves only {room} for the answer. Shorten the message or raise GLM_MAX_CONTEXT.",
        "这一轮的提示约需 {tokens} 个 token，而 {window} 个 token 的上下文窗口只给回答留下 {room} 个。"
        "请缩短消息，或调大 GLM_MAX_CONTEXT。",
    ),
    "model_error.server_unreachable": (
        "Can't reach the OpenAI-compatible server at GLM_API_BASE={api_base} ({detail}). Start the "
        "server or set GLM_API_BASE / GLM_API_KEY.",
        "无法连接 GLM_API_BASE={api_base} 上的 OpenAI 兼容服务器（{detail}）。请启动服务器，"
        "或设置 GLM_API_BASE / GLM_API_KEY。",
    ),
    "model_error.not_a_checkpoint": (
        "{variable}={folder} is a folder without a config.json, so not a model checkpoint (yet). Choose "
        "another model on the Models page, which can also create a tiny demo model, or put a checkpoint "
        "there and try again.",
        "{variable}={folder} 是一个没有 config.json 的文件夹，（还）不是模型检查点。请在“模型设置”页面"
        "选择其他模型（也可以在那里创建微型演示模型），或把检查点放到该文件夹后重试。",
    ),
    "model_error.local_load_failed": (
        "Can't load {variable}={model} ({detail}). Choose another model on the Models page, which can "
        "also create a tiny demo model, or use a server (GLM_BACKEND=openai).",
        "无法加载 {variable}={model}（{detail}）。请在“模型设置”页面选择其他模型（也可以在那里创建"
        "微型演示模型），或改用服务器（GLM_BACKEND=openai）。",
    ),
    "model_error.no_model_list": (
        "The server at GLM_API_BASE={api_base} answers {status} on /models, so it can't say its "
        "models. Set GLM_MODEL to the name of the model it serves.",
        "GLM_API_BASE={api_base} 上的服务器对 /models 返回 {status}，无法列出它提供的模型。"
        "请把 GLM_MODEL 设为它所服务的模型名称。",
    ),
}


def language() -> str:
    """The session's language code: the sidebar's choice, else the browser's, else English."""
    chosen = st.session_state.get(LANGUAGE_KEY)
    if chosen in LANGUAGES:
        return chosen
    locale = (st.context.locale or "").lower()
    return "zh" if locale.startswith("zh") else "en"


def t(key: str, **values: object) -> str:
    english, chinese = CATALOGUE[key]
    text = chinese if language() == "zh" else english
    return text.format(**values) if values else text


def said(error: Exception) -> str:
    """A file's error (`DocumentError`, `ImageError`) in the session's language when the catalogue has
    its entry, else as it was raised."""
    key = getattr(error, "key", None)
    if key in CATALOGUE:
        try:
            return t(key, **getattr(error, "values", {}))
        except (KeyError, IndexError):
            pass
    return str(error)


def said_kind(kind: str, values: Mapping[str, object], fallback: str) -> str:
    """An error the layers below report as a `kind` with `values` (a refused request, a lost
    connection, a failed load) in the session's language, from the `model_error.{kind}` entry;
    `fallback` (the error's own words) without a kind."""
    return said_key(f"model_error.{kind}", values, fallback) if kind else fallback


def said_key(key: str, values: Mapping[str, object], fallback: str) -> str:
    """The `key` entry filled with `values`; `fallback` when there is no such entry or the values don't
    fit it (a conversation stored by another version)."""
    if key in CATALOGUE:
        try:
            return t(key, **values)
        except (KeyError, IndexError, ValueError):
            pass
    return fallback


def plural(key: str, n: int) -> str:
    """`key.one` for one, `key.other` (with `{n}`) for any other count."""
    return t(f"{key}.one") if n == 1 else t(f"{key}.other", n=n)


def _remember_choice() -> None:
    if (chosen := st.session_state.get(PICKER_KEY)) in LANGUAGES:
        st.session_state[LANGUAGE_KEY] = chosen


def language_picker() -> None:
    """English / 中文 in the sidebar; the choice is kept for the browser session (a widget's own
    state is dropped on a run that doesn't draw it, so it is copied to `LANGUAGE_KEY`)."""
    current = language()
    st.session_state[PICKER_KEY] = current
    st.sidebar.segmented_control(
        ":material/translate: " + t("sidebar.language"),
        LANGUAGES,
        format_func=LANGUAGE_NAMES.__getitem__,
        key=PICKER_KEY,
        on_change=_remember_choice,
        label_visibility="collapsed",
    )
