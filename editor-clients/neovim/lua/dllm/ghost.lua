-- Ghost text from `textDocument/inlineCompletion`: request, draw, accept (all, a word, a line),
-- dismiss, cycle. One suggestion per buffer at a time; typing through it keeps it (no new request),
-- anything else drops it. Sends dllm/shown, dllm/accepted and dllm/rejected.
local rpc = require('dllm.rpc')
local text = require('dllm.text')

local M = {}
local ns = vim.api.nvim_create_namespace('dllm_ghost')
local INLINE_0_10 = vim.fn.has('nvim-0.10') == 1
local AUTOMATIC, INVOKED = 2, 1

M.state = {} -- bufnr -> { items, index, pending, partial, shown, mark }
local inflight = {} -- bufnr -> request id

local function uri(bufnr) return vim.uri_from_bufnr(bufnr) end

local function buf(bufnr)
  return (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
end

local function in_insert() return vim.api.nvim_get_mode().mode:sub(1, 1) == 'i' end

local function cursor()
  local pos = vim.api.nvim_win_get_cursor(0)
  return pos[1] - 1, pos[2]
end

-- Text between the anchor (row, col) and the cursor, or nil if the cursor is before it.
local function typed_since(bufnr, arow, acol)
  local row, col = cursor()
  if row < arow or (row == arow and col < acol) then return nil end
  local lines = vim.api.nvim_buf_get_lines(bufnr, arow, row + 1, false)
  if #lines == 0 then return nil end
  lines[#lines] = lines[#lines]:sub(1, col)
  lines[1] = lines[1]:sub(acol + 1)
  return table.concat(lines, '\n')
end

local function current(bufnr)
  local s = M.state[bufnr]
  return s and s.items[s.index] or nil, s
end

-- What is left of the visible suggestion at the cursor ('' when all typed), or nil.
function M.remainder(bufnr)
  bufnr = buf(bufnr)
  local item = current(bufnr)
  if not item then return nil end
  local typed = typed_since(bufnr, item.row, item.col)
  return typed and text.remainder(item.text, typed)
end

function M.visible(bufnr)
  bufnr = buf(bufnr)
  local rest = M.remainder(bufnr)
  return rest ~= nil and rest ~= ''
end

local function clear(bufnr)
  if vim.api.nvim_buf_is_valid(bufnr) then vim.api.nvim_buf_clear_namespace(bufnr, ns, 0, -1) end
end

local function feedback(kind, bufnr, s, extra)
  local item = s.items[s.index]
  rpc.notify('dllm/' .. kind, vim.tbl_extend('force', { id = item.id, uri = uri(bufnr) }, extra or {}))
end

-- Drop the suggestion: rejected, unless part of it was accepted already. A request in flight is
-- cancelled too, unless the suggestion only stopped fitting the text (a fresh request may be out).
local KEEPS_REQUEST = { diverged = true, replaced = true }

function M.dismiss(bufnr, reason)
  bufnr = buf(bufnr)
  if not KEEPS_REQUEST[reason] then
    rpc.cancel(inflight[bufnr])
    inflight[bufnr] = nil
  end
  local s = M.state[bufnr]
  M.state[bufnr] = nil
  clear(bufnr)
  if s and s.shown[s.index] then
    if s.partial > 0 then
      feedback('accepted', bufnr, s, { partial = true, chars = s.partial })
    else
      feedback('rejected', bufnr, s, { reason = reason or 'dismissed' })
    end
  end
end

local function draw(bufnr, rest, hl)
  clear(bufnr)
  local row, col = cursor()
  local lines = text.lines(text.expand_tabs(rest, vim.bo[bufnr].tabstop))
  local opts = { hl_mode = 'combine', virt_text = { { lines[1], hl } } }
  local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
  if INLINE_0_10 then
    opts.virt_text_pos = 'inline'
  elseif col >= #line then -- before 0.10 no inline virtual text: paint over the end of the line
    opts.virt_text_win_col = vim.fn.strdisplaywidth(line) - vim.fn.winsaveview().leftcol
  else
    opts.virt_text_pos = 'eol'
  end
  if #lines > 1 then
    opts.virt_lines = {}
    for i = 2, #lines do table.insert(opts.virt_lines, { { lines[i], hl } }) end
  end
  return vim.api.nvim_buf_set_extmark(bufnr, ns, row, col, opts)
end

-- Redraw at the cursor; dismiss when the user went another way, count it accepted when typed out.
function M.render(bufnr, hl)
  bufnr = buf(bufnr)
  local s = M.state[bufnr]
  if not s then return false end
  if not in_insert() or vim.api.nvim_get_current_buf() ~= bufnr then
    M.dismiss(bufnr, 'left')
    return false
  end
  local rest = M.remainder(bufnr)
  if rest == nil then
    M.dismiss(bufnr, 'diverged')
    return false
  end
  if rest == '' then
    if s.shown[s.index] then feedback('accepted', bufnr, s, { via = 'typed', chars = #s.items[s.index].text }) end
    M.state[bufnr] = nil
    clear(bufnr)
    return false
  end
  s.mark = draw(bufnr, rest, hl or 'DllmGhost')
  if not s.shown[s.index] then
    s.shown[s.index] = true
    feedback('shown', bufnr, s)
  end
  return true
end

local function to_items(bufnr, result)
  local raw = result and (result.items or result) or {}
  local items = {}
  for _, it in ipairs(raw) do
    local insert = type(it.insertText) == 'string' and it.insertText or (it.insertText and it.insertText.value)
    if insert and insert ~= '' then
      local start = it.range and it.range.start or rpc.position_params().position
      local id = it.command and it.command.arguments and it.command.arguments[1]
      table.insert(items, {
        text = text.lf(insert), row = start.line, col = rpc.byte_col(bufnr, start.line, start.character),
        id = id and tostring(id) or ('nvim:' .. tostring(vim.loop.hrtime())),
      })
    end
  end
  return items
end

-- Ask the server for a suggestion at the cursor (`invoked`: the user asked; more alternatives).
function M.request(bufnr, invoked, on_done)
  bufnr = buf(bufnr)
  rpc.cancel(inflight[bufnr])
  local params = rpc.position_params()
  params.context = { triggerKind = invoked and INVOKED or AUTOMATIC }
  local tick = vim.api.nvim_buf_get_changedtick(bufnr)
  local t0 = vim.loop.hrtime()
  local id
  id = rpc.request('textDocument/inlineCompletion', params, function(err, result)
    if inflight[bufnr] == id then inflight[bufnr] = nil end
    if err or not vim.api.nvim_buf_is_valid(bufnr) then return end
    local items = to_items(bufnr, result)
    if #items > 0 then rpc.last_latency_ms = (vim.loop.hrtime() - t0) / 1e6 end
    if vim.api.nvim_get_current_buf() ~= bufnr or not in_insert() then return end
    local old = M.state[bufnr]
    if old and M.visible(bufnr) and not invoked then
      return -- the suggestion on screen still fits what was typed: keep it
    end
    if old then M.dismiss(bufnr, 'replaced') end
    if #items == 0 then return end
    M.state[bufnr] = { items = items, index = 1, partial = 0, shown = {}, tick = tick, invoked = invoked }
    M.render(bufnr)
    if on_done then on_done() end
  end, bufnr)
  inflight[bufnr] = id
end

local function insert_at_cursor(bufnr, chunk)
  local row, col = cursor()
  local lines = text.lines(chunk)
  vim.api.nvim_buf_set_text(bufnr, row, col, row, col, lines)
  local last_row = row + #lines - 1
  local last_col = (#lines == 1 and col or 0) + #lines[#lines]
  vim.api.nvim_win_set_cursor(0, { last_row + 1, last_col })
end

-- Accept the suggestion: 'all' (default), 'word' or 'line'. Returns false if none is visible.
function M.accept(how, bufnr)
  bufnr = buf(bufnr)
  local item, s = current(bufnr)
  local rest = M.remainder(bufnr)
  if not item or not rest or rest == '' then return false end
  local chunk = rest
  if how == 'word' then chunk = text.next_word(rest) elseif how == 'line' then chunk = text.next_line(rest) end
  if chunk == '' then chunk = rest end
  rpc.cancel(inflight[bufnr])
  inflight[bufnr] = nil
  insert_at_cursor(bufnr, chunk)
  if chunk == rest then
    M.state[bufnr] = nil
    clear(bufnr)
    feedback('accepted', bufnr, s, { chars = #item.text, partial = s.partial > 0 or nil })
  else
    s.partial = s.partial + #chunk
    M.render(bufnr)
  end
  return true
end

-- Show the next (1) or previous (-1) alternative; asks the server for them on first use.
function M.cycle(step, bufnr)
  bufnr = buf(bufnr)
  local s = M.state[bufnr]
  if not s or (#s.items < 2 and not s.invoked) then
    M.request(bufnr, true, function()
      local now = M.state[bufnr]
      if now and #now.items > 1 and step then
        now.index = 2
        M.render(bufnr)
      end
    end)
    return
  end
  s.index = (s.index - 1 + step) % #s.items + 1
  M.render(bufnr)
end

return M
