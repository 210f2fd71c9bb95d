-- dllm.nvim: inline code completions from `dllm-lsp` (a local masked-diffusion model).
--
--   require('dllm').setup({ settings = { model = '/path/to/checkpoint' } })
--
-- Neovim 0.10+: ghost text from textDocument/inlineCompletion (<Tab> accepts, <M-Right> a word,
-- <M-C-Right> a line, <C-]> dismisses, <M-]>/<M-[> cycle, <M-\> asks). Older Neovim: the
-- suggestions come through textDocument/completion in the popup menu. `settings` are the server's
-- own (lsp_server/config.py): enabled, languages, disabledLanguages, model, device, mode, ...
local rpc = require('dllm.rpc')
local ghost = require('dllm.ghost')
local menu = require('dllm.menu')

local M = {}

M.defaults = {
  cmd = { 'dllm-lsp' },
  cmd_env = nil,
  settings = {},
  filetypes = nil, -- nil: any buffer with a file type and a file name
  ghost_text = nil, -- nil: ghost text on Neovim 0.10+, the completion menu before
  auto_trigger = true,
  debounce_ms = 50,
  keys = {
    accept = '<Tab>', accept_word = '<M-Right>', accept_line = '<M-C-Right>', dismiss = '<C-]>',
    next = '<M-]>', prev = '<M-[>', trigger = '<M-\\>',
  },
}

M.config = vim.deepcopy(M.defaults)
local timer = nil
local group = nil
local MAX_RESTARTS = 3 -- automatic ones, after the server died; :DllmRestart starts counting again
local restarts = 0

local function enabled() return M.config.settings.enabled ~= false end

local function eligible(bufnr)
  if vim.bo[bufnr].buftype ~= '' or vim.api.nvim_buf_get_name(bufnr) == '' then return false end
  local ft = vim.bo[bufnr].filetype
  if ft == '' then return false end
  return M.config.filetypes == nil or vim.tbl_contains(M.config.filetypes, ft)
end

local function attached(bufnr)
  local c = rpc.client()
  return c ~= nil and vim.lsp.buf_is_attached(bufnr, c.id)
end

function M.attach(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  if eligible(bufnr) then
    local fresh = rpc.client() == nil
    if fresh and rpc.crashed then -- the server died: start it again (switched on), a few times at most
      if restarts >= MAX_RESTARTS or not enabled() then return end
      restarts = restarts + 1
    end
    rpc.attach(bufnr, M.config)
    if fresh then rpc.refresh_stats() end
  end
end

-- Ask now, in whichever way this Neovim shows suggestions.
function M.trigger(invoked)
  local bufnr = vim.api.nvim_get_current_buf()
  if not enabled() or not attached(bufnr) then return end
  if M.config.ghost_text then ghost.request(bufnr, invoked) else menu.request(bufnr, invoked) end
end

local function on_change()
  local bufnr = vim.api.nvim_get_current_buf()
  if not M.config.auto_trigger or not enabled() or not attached(bufnr) then return end
  if M.config.ghost_text then
    if ghost.state[bufnr] and ghost.render(bufnr) then return end -- typed through it: keep it
  elseif vim.fn.pumvisible() == 1 then
    return
  end
  timer:stop()
  timer:start(M.config.debounce_ms, 0, vim.schedule_wrap(function()
    if vim.api.nvim_get_current_buf() == bufnr and vim.api.nvim_get_mode().mode:sub(1, 1) == 'i' then
      M.trigger(false)
    end
  end))
end

-- Switch how suggestions are shown: 'ghost' or 'menu'.
function M.set_mode(mode)
  ghost.dismiss(nil, 'mode')
  M.config.ghost_text = mode == 'ghost'
end

-- Change server settings at run time (merged with the current ones).
function M.configure(settings)
  M.config.settings = vim.tbl_deep_extend('force', M.config.settings, settings)
  local c = rpc.client()
  if c then c.config.settings = { dllm = M.config.settings } end
  rpc.notify('workspace/didChangeConfiguration', { settings = { dllm = settings } })
  if not enabled() then ghost.dismiss(nil, 'disabled') end
  -- the status names the new model (one switched on loads only then)
  if settings.model ~= nil or settings.device ~= nil or settings.enabled then rpc.refresh_stats() end
end

function M.toggle_filetype(ft)
  ft = ft or vim.bo.filetype
  if ft == 'text' then ft = 'plaintext' end -- the server's name for plain text
  local off = vim.deepcopy(M.config.settings.disabledLanguages or { 'plaintext', 'markdown', 'log' })
  if vim.tbl_contains(off, ft) then
    off = vim.tbl_filter(function(x) return x ~= ft end, off)
  else
    table.insert(off, ft)
  end
  M.configure({ disabledLanguages = off })
end

-- For a statusline: "dllm: off", "dllm: <model> <device> <latency>".
function M.status()
  if not enabled() then return 'dllm: off' end
  if not rpc.client() then return 'dllm: stopped' end
  local s = rpc.stats
  local model = s and type(s.model) == 'table' and s.model or {}
  local parts = { 'dllm:', model.model or 'loading…' }
  if model.device then table.insert(parts, model.device) end
  if rpc.last_latency_ms then table.insert(parts, string.format('%dms', rpc.last_latency_ms)) end
  return table.concat(parts, ' ')
end

-- The global insert-mode mapping each of our keys had before setup() (a user's or another plugin's,
-- e.g. a snippet's <Tab>), kept over a second setup(): what the key does while dllm has nothing to do.
local priors = {}

local function global_mapping(lhs)
  local want = vim.api.nvim_replace_termcodes(lhs, true, true, true)
  for _, m in ipairs(vim.api.nvim_get_keymap('i')) do
    if vim.api.nvim_replace_termcodes(m.lhs, true, true, true) == want then return m end
  end
end

-- Keys for our expression mapping to give back when it is not ours to act: the prior mapping's
-- (a Lua function that edits runs after the expression, outside its text lock), else the key itself.
local function otherwise(lhs)
  local prior = priors[lhs]
  if not prior then return lhs end
  if prior.callback then
    if prior.expr == 1 then return prior.callback() or '' end
    return '<Cmd>lua require("dllm")._prior("' .. prior.id .. '")<CR>'
  end
  return prior.expr == 1 and vim.api.nvim_eval(prior.rhs) or prior.rhs
end

function M._prior(id)
  for _, prior in pairs(priors) do
    if prior.id == id then return prior.callback() end
  end
end

-- Map `lhs` to dllm's `fn` while `active()`, else to what it did before.
local function map(lhs, fn, active)
  if not lhs or lhs == '' then return end
  local prior = global_mapping(lhs)
  if prior and not (prior.desc or ''):find('^dllm: ') then
    priors[lhs] = vim.tbl_extend('force', prior, { id = vim.fn.sha256(lhs):sub(1, 12) })
  end
  vim.keymap.set('i', lhs, function()
    if active() then return '<Cmd>lua require("dllm")._key("' .. fn .. '")<CR>' end
    return otherwise(lhs)
  end, { expr = true, replace_keycodes = true, remap = priors[lhs] ~= nil and priors[lhs].noremap == 0,
         desc = 'dllm: ' .. fn })
end

function M._key(fn)
  if fn == 'accept' then ghost.accept('all')
  elseif fn == 'accept_word' then ghost.accept('word')
  elseif fn == 'accept_line' then ghost.accept('line')
  elseif fn == 'dismiss' then ghost.dismiss(nil, 'dismissed')
  elseif fn == 'next' then ghost.cycle(1)
  elseif fn == 'prev' then ghost.cycle(-1)
  elseif fn == 'trigger' then M.trigger(true)
  end
end

-- Restart the server (after a crash, or to pick up a new `dllm-lsp`) and attach the current buffer.
function M.restart()
  restarts = 0
  rpc.stop()
  M.attach(0)
end

function M.setup(opts)
  M.config = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), opts or {})
  if M.config.ghost_text == nil then M.config.ghost_text = vim.fn.has('nvim-0.10') == 1 end
  timer = timer or vim.loop.new_timer()
  vim.api.nvim_set_hl(0, 'DllmGhost', { link = 'Comment', default = true })
  group = vim.api.nvim_create_augroup('dllm', { clear = true })
  local au = function(events, cb) vim.api.nvim_create_autocmd(events, { group = group, callback = cb }) end
  au({ 'FileType', 'BufEnter' }, function(ev) M.attach(ev.buf) end)
  au('TextChangedI', on_change)
  au('InsertEnter', function(ev)
    if rpc.crashed and enabled() and not attached(ev.buf) then M.attach(ev.buf) end
    if M.config.ghost_text then on_change() end
  end)
  au('CursorMovedI', function(ev) if ghost.state[ev.buf] then ghost.render(ev.buf) end end)
  au({ 'InsertLeave', 'BufLeave' }, function(ev)
    ghost.dismiss(ev.buf, 'left')
    menu.restore()
  end)
  au('CompleteDone', menu.on_complete_done)

  local k = M.config.keys
  local shown = function() return M.config.ghost_text and ghost.visible() end
  local ghosting = function() return M.config.ghost_text and enabled() end
  for _, fn in ipairs({ 'accept', 'accept_word', 'accept_line', 'dismiss' }) do map(k[fn], fn, shown) end
  map(k.next, 'next', ghosting)
  map(k.prev, 'prev', ghosting)
  map(k.trigger, 'trigger', enabled)

  local cmd = vim.api.nvim_create_user_command
  cmd('DllmEnable', function() M.configure({ enabled = true }) end, {})
  cmd('DllmDisable', function() M.configure({ enabled = false }) end, {})
  cmd('DllmToggle', function() M.configure({ enabled = not enabled() }) end, {})
  cmd('DllmToggleFiletype', function(a) M.toggle_filetype(a.args ~= '' and a.args or nil) end, { nargs = '?' })
  cmd('DllmRestart', M.restart, {})
  cmd('DllmStatus', function()
    rpc.refresh_stats(1, function(stats) print(M.status() .. '\n' .. vim.inspect(stats)) end)
  end, {})
  M.attach(0)
end

return M
