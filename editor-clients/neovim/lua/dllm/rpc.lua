-- The LSP client of this plugin, across Neovim versions: start/attach, requests, notifications,
-- positions in the server's encoding. Neovim 0.7 to 0.11+ spell these differently.
local M = {}

M.client_id = nil
M.last_latency_ms = nil
M.stats = nil

local has = function(v) return vim.fn.has('nvim-' .. v) == 1 end

function M.client()
  local id = M.client_id
  if not id then return nil end
  return vim.lsp.get_client_by_id(id)
end

local function call(c, name, ...)
  if has('0.11') then
    return c[name](c, ...)
  end
  return c[name](...)
end

function M.request(method, params, handler, bufnr)
  local c = M.client()
  if not c then return nil end
  local ok, id = call(c, 'request', method, params, handler, bufnr)
  return ok and id or nil
end

function M.notify(method, params)
  local c = M.client()
  if c then call(c, 'notify', method, params) end
end

function M.cancel(id)
  local c = M.client()
  if c and id then pcall(call, c, 'cancel_request', id) end
end

function M.encoding()
  local c = M.client()
  return c and c.offset_encoding or 'utf-16'
end

-- Byte column of an LSP position's character on buffer row `row` (0-based).
function M.byte_col(bufnr, row, character)
  local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
  local enc = M.encoding()
  if enc == 'utf-8' then return math.min(character, #line) end
  local ok, col
  if has('0.11') then
    ok, col = pcall(vim.str_byteindex, line, enc, character, false)
  else
    ok, col = pcall(vim.str_byteindex, line, character, enc == 'utf-16')
  end
  return ok and math.min(col, #line) or #line
end

function M.position_params()
  return vim.lsp.util.make_position_params(0, M.encoding())
end

-- Start the server (once) and attach it to `bufnr`.
function M.attach(bufnr, config)
  local c = M.client()
  if c then
    if not vim.lsp.buf_is_attached(bufnr, c.id) then vim.lsp.buf_attach_client(bufnr, c.id) end
    return c.id
  end
  local caps = vim.lsp.protocol.make_client_capabilities()
  caps.textDocument = caps.textDocument or {}
  caps.textDocument.inlineCompletion = { dynamicRegistration = false }
  local settings = vim.tbl_isempty(config.settings) and vim.empty_dict() or vim.deepcopy(config.settings)
  local cfg = {
    name = 'dllm',
    cmd = config.cmd,
    cmd_env = config.cmd_env,
    root_dir = vim.loop.cwd(),
    init_options = settings,
    settings = { dllm = settings },
    capabilities = caps,
    flags = { debounce_text_changes = 0 },
    on_exit = function(code, signal, id)
      if M.client_id == id then -- not a client stopped before this one started (:DllmRestart)
        M.client_id = nil
        M.crashed = code ~= 0 or signal ~= 0
      end
    end,
  }
  if vim.lsp.start then -- 0.8+: starts once per name and root, and attaches
    M.client_id = vim.lsp.start(cfg, { bufnr = bufnr, reuse_client = function() return false end })
  else
    M.client_id = vim.lsp.start_client(cfg)
    if M.client_id then vim.lsp.buf_attach_client(bufnr, M.client_id) end
  end
  return M.client_id
end

function M.stop()
  local c = M.client()
  if c then call(c, 'stop') end
  M.client_id = nil
  M.crashed = false
end

-- Ask for dllm/stats; keep asking until the model has loaded (a few times, or for as long as the
-- server says a load is under way).
function M.refresh_stats(tries, done)
  tries = tries or 20
  M.request('dllm/stats', {}, function(err, result)
    if not err and result then M.stats = result end
    local loaded = result and result.model ~= nil and result.model ~= vim.NIL
    local failed = result and result.model_error ~= nil and result.model_error ~= vim.NIL
    local loading = result and result.loading == true
    if not loaded and not failed and (loading or tries > 1) then
      vim.defer_fn(function() M.refresh_stats(loading and tries or tries - 1, done) end, 1000)
    elseif done then
      done(M.stats)
    end
  end)
end

return M
