-- End-to-end test of the plugin in a real (headless) Neovim against the real dllm-lsp.
--
--   DLLM_CMD='["dllm-lsp","--model","/tmp/m"]' DLLM_WORKDIR=/tmp/w DLLM_RESULT=/tmp/r.json \
--     nvim --headless --clean --cmd 'set rtp^=editor-clients/neovim' -c 'luafile editor-clients/neovim/test/headless.lua'
--
-- Types in a Python file, waits for ghost text, accepts it with <Tab> and checks that exactly the
-- server's text landed in the buffer; then dismiss, accept-word, the completion-menu path, a CRLF
-- file, on/off.
-- Exits 0 when every check passed, 1 otherwise (the reason on stderr and in DLLM_RESULT).
local dllm = require('dllm')
local ghost = require('dllm.ghost')
local rpc = require('dllm.rpc')
local text = require('dllm.text')

local result = { checks = {}, nvim = tostring(vim.version().major .. '.' .. vim.version().minor .. '.' .. vim.version().patch) }
local co

local function finish(ok, err)
  result.ok = ok
  result.error = err
  if not ok then result.buffer = vim.api.nvim_buf_get_lines(0, 0, -1, false) end
  local f = io.open(os.getenv('DLLM_RESULT') or '/dev/null', 'w')
  if f then
    f:write(vim.fn.json_encode(result))
    f:close()
  end
  if not ok then io.stderr:write('FAILED: ' .. tostring(err) .. '\n') end
  vim.cmd(ok and 'qa!' or 'cq! 1')
end

local function resume()
  local ok, err = coroutine.resume(co)
  if not ok then finish(false, debug.traceback(co, err)) end
end

local function sleep(ms)
  vim.defer_fn(resume, ms)
  coroutine.yield()
end

local function wait_for(what, pred, timeout)
  local t0 = vim.loop.now()
  while not pred() do
    if vim.loop.now() - t0 > (timeout or 15000) then error('timed out waiting for ' .. what, 2) end
    sleep(15)
  end
  return vim.loop.now() - t0
end

local function feed(keys)
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(keys, true, false, true), 'mt', false)
  sleep(30)
end

local function check(name, cond, detail)
  table.insert(result.checks, name)
  if not cond then error(name .. (detail and (': ' .. detail) or ''), 2) end
end

local function lines() return vim.api.nvim_buf_get_lines(0, 0, -1, false) end
local function cursor() local c = vim.api.nvim_win_get_cursor(0) return c[1] - 1, c[2] end

-- The buffer as it must be after inserting `s` at the cursor, and the cursor after it.
local function with_inserted(s)
  local all = lines()
  local row, col = cursor()
  local line = all[row + 1]
  local joined = line:sub(1, col) .. s .. line:sub(col + 1)
  local new = text.lines(joined)
  local out = {}
  for i = 1, row do out[#out + 1] = all[i] end
  for _, l in ipairs(new) do out[#out + 1] = l end
  for i = row + 2, #all do out[#out + 1] = all[i] end
  local ins = text.lines(s)
  local erow = row + #ins - 1
  local ecol = (#ins == 1 and col or 0) + #ins[#ins]
  return out, erow, ecol
end

local function ghost_shown()
  local bufnr = vim.api.nvim_get_current_buf()
  if not ghost.visible(bufnr) then return false end
  local marks = vim.api.nvim_buf_get_extmarks(bufnr, vim.api.nvim_create_namespace('dllm_ghost'), 0, -1, { details = true })
  return #marks == 1 and marks[1][4].virt_text ~= nil
end

local function main()
  local dir = assert(os.getenv('DLLM_WORKDIR'), 'DLLM_WORKDIR is not set')
  local path = dir .. '/sample.py'
  local f = assert(io.open(path, 'w'))
  f:write('def add(a, b):\n    return \n\n\nclass Stack:\n    pass\n')
  f:close()
  vim.o.completeopt = 'menuone,noselect'
  vim.keymap.set('i', '<C-]>', '<Cmd>let g:user_dismiss = 1<CR>') -- the user's own, from before the plugin
  dllm.setup({
    cmd = vim.fn.json_decode((assert(os.getenv('DLLM_CMD'), 'DLLM_CMD is not set'))),
    -- no syntax filter: the tiny random test model writes gibberish, which tree-sitter would cut to nothing
    settings = { maxTokensSingle = 16, maxTokensMulti = 24, alternatives = 2, syntax = false },
    ghost_text = true,
    debounce_ms = 0,
  })
  vim.cmd('edit ' .. path)
  result.load_ms = wait_for('the model to load', function()
    local s = rpc.stats
    return s and type(s.model) == 'table' and s.model.model ~= nil
  end, 60000)
  check('stats name the model', rpc.stats.model.model == 'tiny-diffusion', vim.inspect(rpc.stats))

  -- 1. ghost text, accepted with <Tab>: the server's text lands at the cursor
  vim.api.nvim_win_set_cursor(0, { 2, 0 })
  feed('A')
  feed('a')
  local item
  result.ghost_ms = wait_for('ghost text after typing', function()
    if not ghost_shown() then return false end
    local s = ghost.state[vim.api.nvim_get_current_buf()]
    item = s.items[s.index]
    return true
  end)
  local rest = ghost.remainder(0)
  check('ghost text is what the server sent', item.text:sub(-#rest) == rest, item.text .. ' / ' .. rest)
  local marks = vim.api.nvim_buf_get_extmarks(0, vim.api.nvim_create_namespace('dllm_ghost'), 0, -1, { details = true })
  check('ghost text is drawn at the cursor', marks[1][4].virt_text[1][1] == text.lines(text.expand_tabs(rest, vim.bo.tabstop))[1])
  local expect, erow, ecol = with_inserted(rest)
  result.suggestion = item.text
  feed('<Tab>')
  wait_for('the accepted text in the buffer', function() return vim.deep_equal(lines(), expect) end, 3000)
  local row, col = cursor()
  check('cursor after the accepted text', row == erow and col == ecol, row .. ':' .. col .. ' vs ' .. erow .. ':' .. ecol)
  result.after_accept = table.concat(lines(), '\n')

  -- 2. dismiss with <C-]>: nothing changes
  vim.api.nvim_win_set_cursor(0, { 3, 0 })
  dllm.trigger(true)
  wait_for('ghost text on an invoked request', ghost_shown)
  local before = lines()
  feed('<C-]>')
  check('dismissed ghost text is gone', not ghost.visible() and #vim.api.nvim_buf_get_extmarks(0, vim.api.nvim_create_namespace('dllm_ghost'), 0, -1, {}) == 0)
  check('dismiss leaves the buffer alone', vim.deep_equal(lines(), before))
  check("the user's <C-]> is not run while a suggestion shows", vim.g.user_dismiss == nil)
  feed('<C-]>')
  check("with nothing shown, <C-]> does what it did before the plugin", vim.g.user_dismiss == 1)

  -- 3. accept one word with <M-Right>
  dllm.trigger(true)
  wait_for('ghost text again', ghost_shown)
  local word = text.next_word(ghost.remainder(0))
  local expect_word = with_inserted(word)
  feed('<M-Right>')
  wait_for('the accepted word in the buffer', function() return vim.deep_equal(lines(), expect_word) end, 3000)
  feed('<Esc>')
  wait_for('normal mode', function() return vim.api.nvim_get_mode().mode == 'n' end, 3000)
  check('leaving insert mode clears the ghost text', #vim.api.nvim_buf_get_extmarks(0, vim.api.nvim_create_namespace('dllm_ghost'), 0, -1, {}) == 0)

  -- 4. the completion menu (what Neovim before 0.10 uses by default)
  dllm.set_mode('menu')
  vim.api.nvim_win_set_cursor(0, { 5, 0 })
  feed('o')
  feed('s')  -- a letter of the tiny test model's code, so that it has something to say
  local info
  wait_for('the completion menu', function()
    if vim.fn.pumvisible() ~= 1 then return false end
    local items = vim.fn.complete_info({ 'items' }).items
    info = items[1] and items[1].info
    return info ~= nil
  end)
  local line = vim.api.nvim_get_current_line()
  check('the menu inserts nothing by itself', line:sub(-1) == 's', line)
  check('nothing is selected while typing (<CR> breaks the line)', vim.fn.complete_info({ 'selected' }).selected == -1)
  local r = cursor()
  local all = lines()
  local menu_expect = {}
  for i = 1, r do menu_expect[#menu_expect + 1] = all[i] end
  for _, l in ipairs(text.lines(line:sub(1, #line - 1) .. info)) do menu_expect[#menu_expect + 1] = l end
  for i = r + 2, #all do menu_expect[#menu_expect + 1] = all[i] end
  result.menu_suggestion = info
  feed('<C-n>') -- select the first entry
  feed('<C-y>')
  wait_for('the chosen completion in the buffer', function() return vim.deep_equal(lines(), menu_expect) end, 3000)
  feed('<Esc>')
  check("the user's completeopt is back", vim.o.completeopt == 'menuone,noselect', vim.o.completeopt)

  -- 5. a CRLF file: the server's "\r\n" line ends never land in the buffer as "\r"
  dllm.set_mode('ghost')
  local crlf = dir .. '/crlf.py'
  f = assert(io.open(crlf, 'w'))
  f:write('def add(a, b):\r\n\r\n\r\nclass Stack:\r\n    pass\r\n')
  f:close()
  vim.cmd('edit ' .. crlf)
  check('the CRLF file is read as dos', vim.bo.fileformat == 'dos', vim.bo.fileformat)
  vim.api.nvim_win_set_cursor(0, { 2, 0 })
  feed('i')
  dllm.trigger(true)
  wait_for('ghost text in the CRLF file', ghost_shown)
  local s = ghost.state[vim.api.nvim_get_current_buf()]
  result.crlf_suggestion = s.items[s.index].text
  check('the suggestion holds no "\\r"', not result.crlf_suggestion:find('\r', 1, true), vim.inspect(result.crlf_suggestion))
  feed('<Tab>')
  wait_for('the accepted text', function() return not ghost.visible() end, 3000)
  check('no line of the buffer ends in "\\r"', not table.concat(lines(), '\n'):find('\r', 1, true), vim.inspect(lines()))
  feed('<Esc>')

  -- 6. switched off, the server suggests nothing
  vim.cmd('DllmDisable')
  check('status says off', dllm.status() == 'dllm: off')
  local answered
  rpc.request('textDocument/inlineCompletion', vim.tbl_extend('force', rpc.position_params(),
    { context = { triggerKind = 1 } }), function(err, res) answered = { err = err, res = res } end, 0)
  wait_for('an answer while disabled', function() return answered ~= nil end, 5000)
  check('nothing while disabled', answered.err == nil and #(answered.res.items or answered.res) == 0)
  vim.cmd('DllmEnable')
  check('status names the model when on', dllm.status():find('tiny-diffusion', 1, true) ~= nil, dllm.status())
  result.latency_ms = rpc.last_latency_ms
  finish(true)
end

co = coroutine.create(main)
vim.defer_fn(resume, 0)
