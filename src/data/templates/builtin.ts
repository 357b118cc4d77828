// Built-in chat templates, written as Jinja so they render through the same engine (and the same Python
// oracle) as a model's own chat_template. Each names the header that opens an assistant turn (what
// add_generation_prompt appends; '' when the user turn already ends with it) and the end-of-turn text that is
// trained with each answer. The *_token variables come from the tokenizer's configuration.

export interface BuiltinTemplate {
  name: string;
  description: string;
  source: string;
  /** Text before each assistant answer; '' means "find the answer by rendering the conversation up to it". */
  header: string;
  /** End of an assistant turn, trained with the answer; a *_token variable name in braces is resolved. */
  end: string;
}

// Tool calls as JSON objects inside <tool_call> tags (the convention of Qwen and Hermes models).
const TOOL_CALLS = String.raw`
        {%- if message.tool_calls %}
            {%- for call in message.tool_calls %}
                {%- if message.content or not loop.first %}
                    {{- '\n' }}
                {%- endif %}
                {{- '<tool_call>\n{"name": ' + (call.function.name | tojson) + ', "arguments": ' }}
                {%- if call.function.arguments is string %}
                    {{- call.function.arguments }}
                {%- else %}
                    {{- call.function.arguments | tojson }}
                {%- endif %}
                {{- '}\n</tool_call>' }}
            {%- endfor %}
        {%- endif %}`;

const TOOLS_TEXT = String.raw`'# Tools\n\nYou may call the functions below, given as JSON schemas, to help with the request.\n<tools>'`;
const TOOLS_END = String.raw`'\n</tools>\n\nTo call a function, reply with a JSON object holding its "name" and "arguments" inside <tool_call></tool_call> tags.'`;

function chatmlFamily(opts: { defaultSystem?: string; toolsAsUser: boolean; reasoning: boolean }): string {
  const sys = opts.defaultSystem === undefined ? "''" : JSON.stringify(opts.defaultSystem).replace(/^"|"$/g, "'");
  const assistantOpen = opts.reasoning
    ? String.raw`
        {%- if message.reasoning_content %}
            {{- '<|im_start|>assistant\n<think>\n' + message.reasoning_content.strip('\n') + '\n</think>\n\n' + message.content.lstrip('\n') }}
        {%- else %}
            {{- '<|im_start|>assistant\n' + message.content }}
        {%- endif %}`
    : String.raw`
        {{- '<|im_start|>assistant\n' + message.content }}`;
  const tool = opts.toolsAsUser
    ? String.raw`
        {%- if loop.first or loop_messages[loop.index0 - 1].role != 'tool' %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' + message.content + '\n</tool_response>' }}
        {%- if loop.last or loop_messages[loop.index0 + 1].role != 'tool' %}
            {{- '<|im_end|>\n' }}
        {%- endif %}`
    : String.raw`
        {{- '<|im_start|>tool\n' + message.content + '<|im_end|>\n' }}`;
  return String.raw`{%- if messages[0].role == 'system' %}
    {%- set system_message = messages[0].content %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set system_message = ${sys} %}
    {%- set loop_messages = messages %}
{%- endif %}
{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if system_message %}
        {{- system_message + '\n\n' }}
    {%- endif %}
    {{- ${TOOLS_TEXT} }}
    {%- for tool in tools %}
        {{- '\n' + (tool | tojson) }}
    {%- endfor %}
    {{- ${TOOLS_END} + '<|im_end|>\n' }}
{%- elif system_message %}
    {{- '<|im_start|>system\n' + system_message + '<|im_end|>\n' }}
{%- endif %}
{%- for message in loop_messages %}
    {%- if message.role == 'assistant' %}${assistantOpen}${TOOL_CALLS}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == 'tool' %}${tool}
    {%- else %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}`;
}

const LLAMA3 = String.raw`{{- bos_token }}
{%- if messages[0].role == 'system' %}
    {%- set system_message = messages[0].content | trim %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set system_message = '' %}
    {%- set loop_messages = messages %}
{%- endif %}
{%- if tools %}
    {%- if system_message %}
        {%- set system_message = system_message + '\n\n' %}
    {%- endif %}
    {%- set system_message = system_message + 'You may call these functions (JSON schemas). To call one, reply with only a JSON object {"name": function name, "parameters": arguments}.\n' %}
    {%- for tool in tools %}
        {%- set system_message = system_message + '\n' + (tool | tojson) %}
    {%- endfor %}
{%- endif %}
{%- if system_message %}
    {{- '<|start_header_id|>system<|end_header_id|>\n\n' + system_message + '<|eot_id|>' }}
{%- endif %}
{%- for message in loop_messages %}
    {%- if message.role == 'tool' %}
        {{- '<|start_header_id|>ipython<|end_header_id|>\n\n' + message.content | trim + '<|eot_id|>' }}
    {%- elif message.role == 'assistant' and message.tool_calls %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
        {%- if message.content | trim %}
            {{- message.content | trim + '\n' }}
        {%- endif %}
        {%- for call in message.tool_calls %}
            {%- if not loop.first %}
                {{- '\n' }}
            {%- endif %}
            {{- '{"name": ' + (call.function.name | tojson) + ', "parameters": ' }}
            {%- if call.function.arguments is string %}
                {{- call.function.arguments }}
            {%- else %}
                {{- call.function.arguments | tojson }}
            {%- endif %}
            {{- '}' }}
        {%- endfor %}
        {{- '<|eot_id|>' }}
    {%- else %}
        {{- '<|start_header_id|>' + message.role + '<|end_header_id|>\n\n' + message.content | trim + '<|eot_id|>' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}`;

const LLAMA2 = String.raw`{%- if messages[0].role == 'system' %}
    {%- set system_message = messages[0].content | trim %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set system_message = '' %}
    {%- set loop_messages = messages %}
{%- endif %}
{%- if tools %}
    {{- raise_exception('the llama2 template has no tool format; use another template') }}
{%- endif %}
{%- for message in loop_messages %}
    {%- if message.role == 'user' %}
        {%- if loop.first and system_message %}
            {{- bos_token + '[INST] <<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message.content | trim + ' [/INST]' }}
        {%- else %}
            {{- bos_token + '[INST] ' + message.content | trim + ' [/INST]' }}
        {%- endif %}
    {%- elif message.role == 'assistant' %}
        {{- ' ' + message.content | trim + ' ' + eos_token }}
    {%- else %}
        {{- raise_exception('the llama2 template supports only system, user and assistant messages, not ' + message.role) }}
    {%- endif %}
{%- endfor %}`;

const DEFAULT = String.raw`{{- bos_token }}
{%- for message in messages %}
    {%- if message.role == 'system' %}
        {{- message.content + '\n\n' }}
    {%- elif message.role == 'user' %}
        {{- '### Human:\n' + message.content + '\n\n' }}
    {%- elif message.role == 'tool' %}
        {{- '### Tool:\n' + message.content + '\n\n' }}
    {%- else %}
        {{- '### Assistant:\n' + message.content }}${TOOL_CALLS}
        {{- eos_token + '\n\n' }}
    {%- endif %}
{%- endfor %}
{%- if tools %}
    {{- raise_exception('the default template has no tool format; use chatml, qwen, qwen3 or llama3') }}
{%- endif %}
{%- if add_generation_prompt %}
    {{- '### Assistant:\n' }}
{%- endif %}`;

export const BUILTIN_TEMPLATES: Record<string, BuiltinTemplate> = {
  chatml: {
    name: 'chatml', description: 'ChatML (<|im_start|>role ... <|im_end|>), no default system prompt',
    source: chatmlFamily({ toolsAsUser: false, reasoning: false }), header: '<|im_start|>assistant\n', end: '<|im_end|>',
  },
  qwen: {
    name: 'qwen', description: 'Qwen 1.5/2/2.5: ChatML with the default system prompt "You are a helpful assistant." and tool results in user turns',
    source: chatmlFamily({ defaultSystem: 'You are a helpful assistant.', toolsAsUser: true, reasoning: false }),
    header: '<|im_start|>assistant\n', end: '<|im_end|>',
  },
  qwen3: {
    name: 'qwen3', description: 'Qwen3: ChatML, no default system prompt, reasoning_content as <think>...</think>, tool results in user turns',
    source: chatmlFamily({ toolsAsUser: true, reasoning: true }), header: '<|im_start|>assistant\n', end: '<|im_end|>',
  },
  llama3: {
    name: 'llama3', description: 'Llama 3 (<|start_header_id|>role<|end_header_id|> ... <|eot_id|>), tool results as ipython turns',
    source: LLAMA3, header: '<|start_header_id|>assistant<|end_header_id|>\n\n', end: '<|eot_id|>',
  },
  llama2: {
    name: 'llama2', description: 'Llama 2 chat (<s>[INST] <<SYS>>...<</SYS>> user [/INST] answer </s>)',
    source: LLAMA2, header: '', end: '{eos_token}',
  },
  default: {
    name: 'default', description: 'plain multi-turn text for base models: "### Human:" / "### Assistant:" turns, each answer ending with EOS',
    source: DEFAULT, header: '### Assistant:\n', end: '{eos_token}',
  },
};
