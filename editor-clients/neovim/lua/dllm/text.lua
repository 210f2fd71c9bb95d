-- Pure text helpers: what is left of a suggestion after typing, and the pieces that partial
-- accepts take. No editor state here.
local M = {}

function M.lines(s)
  return vim.split(s, '\n', { plain = true })
end

-- A suggestion as Neovim holds text: lines joined by "\n" (the server writes a CRLF file's line
-- ends; the buffer's are its 'fileformat', and "\r" in a line would be saved as "\r\r\n").
function M.lf(s)
  return (s:gsub('\r\n', '\n'))
end

-- The part of `text` not typed yet, when `typed` has been typed since the suggestion's anchor;
-- nil when `typed` is not a prefix of `text` (the user went another way).
function M.remainder(text, typed)
  if typed == '' then
    return text
  end
  if text:sub(1, #typed) == typed then
    return text:sub(#typed + 1)
  end
  return nil
end

-- The next word of `s` for "accept word": blanks, then a run of word characters or of
-- punctuation; at a line end, the line break and the next line's indentation.
function M.next_word(s)
  local blanks = s:match('^[ \t]*')
  local rest = s:sub(#blanks + 1)
  if rest:sub(1, 1) == '\n' then
    return blanks .. '\n' .. rest:sub(2):match('^[ \t]*')
  end
  local word = rest:match('^[%w_]+') or rest:match('^[^%w_%s]+') or ''
  return blanks .. word
end

-- The rest of the current line for "accept line"; when `s` starts a new line, that whole line.
function M.next_line(s)
  if s:sub(1, 1) == '\n' then
    local nl = s:find('\n', 2, true)
    return nl and s:sub(1, nl - 1) or s
  end
  local nl = s:find('\n', 1, true)
  return nl and s:sub(1, nl - 1) or s
end

-- Tabs as spaces, for virtual text (which does not expand them).
function M.expand_tabs(s, tabstop)
  return (s:gsub('\t', string.rep(' ', tabstop)))
end

return M
