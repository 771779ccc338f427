-- Driven by test/editors/neovim.test.ts in `nvim --headless --clean`: loads editors/neovim/segc.lua,
-- opens a .seg file with an error, waits for the diagnostics segc lsp publishes, then asks for a
-- definition and a rename through Neovim's own LSP client, and writes what it saw as JSON to
-- $SEGC_NVIM_OUT. Every wait is bounded.
local out_path = os.getenv('SEGC_NVIM_OUT')
local result = { steps = {} }

local function finish()
  local f = io.open(out_path, 'w')
  f:write(vim.fn.json_encode(result))
  f:close()
  vim.cmd('qa!')
end

local function step(name, ok)
  table.insert(result.steps, { name = name, ok = ok })
  if not ok then finish() end
end

vim.g.segc_cmd = vim.fn.json_decode(os.getenv('SEGC_NVIM_CMD'))
dofile(os.getenv('SEGC_NVIM_PLUGIN'))

local web = os.getenv('SEGC_NVIM_FILE')
vim.cmd('edit ' .. vim.fn.fnameescape(web))
local web_buf = vim.api.nvim_get_current_buf()
result.filetype = vim.bo.filetype

step('diagnostics', vim.wait(30000, function() return #vim.diagnostic.get(web_buf) > 0 end, 50))
result.diagnostics = {}
for _, d in ipairs(vim.diagnostic.get(web_buf)) do
  local code = d.code or (d.user_data and d.user_data.lsp and d.user_data.lsp.code)
  table.insert(result.diagnostics, { lnum = d.lnum, col = d.col, end_lnum = d.end_lnum, end_col = d.end_col, severity = d.severity, message = d.message, code = code })
end

-- Go to the definition of `office` (used on the rule line, declared in common.seg).
local function find(buf, needle)
  for i, line in ipairs(vim.api.nvim_buf_get_lines(buf, 0, -1, false)) do
    local col = line:find(needle, 1, true)
    if col then return i, col - 1 end
  end
end
local row, col = find(web_buf, 'from office')
vim.api.nvim_win_set_cursor(0, { row, col + 6 })
vim.lsp.buf.definition()
step('definition', vim.wait(15000, function() return vim.api.nvim_buf_get_name(0):match('common%.seg$') ~= nil end, 50))
local cursor = vim.api.nvim_win_get_cursor(0)
result.definition = { file = vim.fn.fnamemodify(vim.api.nvim_buf_get_name(0), ':t'), row = cursor[1], col = cursor[2] }

-- Back to web.seg: rename `web_tier` (declared and used there).
vim.api.nvim_set_current_buf(web_buf)
row, col = find(web_buf, 'to web_tier')
vim.api.nvim_win_set_cursor(0, { row, col + 4 })
vim.lsp.buf.rename('frontends')
step('rename', vim.wait(15000, function() return find(web_buf, 'to frontends') ~= nil end, 50))
result.lines = vim.api.nvim_buf_get_lines(web_buf, 0, -1, false)
finish()
