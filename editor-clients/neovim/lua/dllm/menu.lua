-- Completion through `textDocument/completion` and the popup menu, for Neovim before 0.10 (or
-- with ghost_text = false). The menu shows the first line of each suggestion; choosing it inserts
-- the rest of its lines too, and sends dllm/accepted.
local rpc = require('dllm.rpc')
local text = require('dllm.text')

local M = {}
local inflight = nil
local saved_completeopt = nil -- the user's 'completeopt', while ours is in force

-- Put the user's 'completeopt' back once our menu is closed.
function M.restore()
  if saved_completeopt then
    vim.o.completeopt = saved_completeopt
    saved_completeopt = nil
  end
end

local function in_insert() return vim.api.nvim_get_mode().mode:sub(1, 1) == 'i' end

-- Complete-items (see :h complete-items) for the server's CompletionItems.
function M.complete_items(items)
  local out = {}
  for _, it in ipairs(items) do
    local new = it.textEdit and it.textEdit.newText or it.insertText or it.label
    if type(new) == 'string' and new ~= '' then
      new = text.lf(new)
      local first = text.lines(new)[1]
      local id = it.command and it.command.arguments and it.command.arguments[1]
      table.insert(out, {
        -- empty: a suggestion that starts on the next line (after `def f():`) has an empty first line
        word = first, abbr = it.label, menu = '[dllm]', info = new, icase = 1, dup = 1, empty = 1,
        user_data = { dllm = { id = id and tostring(id) or vim.NIL, rest = new:sub(#first + 1) } },
      })
    end
  end
  return out
end

-- Ask for completions at the cursor and open the menu with them; as the user types (not `invoked`)
-- nothing is selected, so that <CR> still breaks the line.
function M.request(bufnr, invoked)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  rpc.cancel(inflight)
  local params = rpc.position_params()
  params.context = { triggerKind = 1 }
  local tick = vim.api.nvim_buf_get_changedtick(bufnr)
  local t0 = vim.loop.hrtime()
  local id
  id = rpc.request('textDocument/completion', params, function(err, result)
    if inflight == id then inflight = nil end
    if err or not result then return end
    local items = result.items or result
    if #items == 0 then return end
    rpc.last_latency_ms = (vim.loop.hrtime() - t0) / 1e6
    if vim.api.nvim_get_current_buf() ~= bufnr or not in_insert() or vim.fn.pumvisible() == 1
        or vim.api.nvim_buf_get_changedtick(bufnr) ~= tick then
      return
    end
    local cands = M.complete_items(items)
    if #cands == 0 then return end
    local first = items[1]
    local row = vim.api.nvim_win_get_cursor(0)[1] - 1
    local col = vim.api.nvim_win_get_cursor(0)[2]
    if first.textEdit and first.textEdit.range then
      local start = first.textEdit.range.start
      if start.line == row then col = rpc.byte_col(bufnr, row, start.character) end
    end
    -- never insert a match by itself: an inserted match is a change, which would ask again
    if not saved_completeopt then saved_completeopt = vim.o.completeopt end
    vim.o.completeopt = invoked and 'menuone,noinsert' or 'menuone,noinsert,noselect'
    vim.fn.complete(col + 1, cands)
  end, bufnr)
  inflight = id
end

-- CompleteDone: insert the rest of a multi-line suggestion, and say it was accepted.
function M.on_complete_done()
  vim.schedule(function() -- unless another of our menus opened meanwhile
    if vim.fn.pumvisible() == 0 then M.restore() end
  end)
  local item = vim.v.completed_item
  local reason = vim.v.event and vim.v.event.reason
  if type(item) ~= 'table' or type(item.user_data) ~= 'table' or not item.user_data.dllm then return end
  if reason ~= nil and reason ~= '' and reason ~= 'accept' then return end
  local data = item.user_data.dllm
  if data.rest ~= '' then
    local row, col = unpack(vim.api.nvim_win_get_cursor(0))
    local lines = text.lines(data.rest)
    vim.api.nvim_buf_set_text(0, row - 1, col, row - 1, col, lines)
    vim.api.nvim_win_set_cursor(0, { row + #lines - 1, #lines[#lines] })
  end
  rpc.notify('dllm/accepted', { id = data.id, uri = vim.uri_from_bufnr(0), via = 'menu', chars = #item.info })
end

return M
