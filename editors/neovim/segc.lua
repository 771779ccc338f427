-- segc in Neovim: `.seg` files get the `seg` filetype and segc's language server (`segc lsp`)
-- through Neovim's built-in LSP client. Works from Neovim 0.7 (Debian 12's 0.7.2, which has
-- vim.lsp.start_client and buf_attach_client) to today's (vim.lsp.start, 0.8 and later).
-- Source it from init.lua (`dofile('/path/to/segc/editors/neovim/segc.lua')`) or copy it in.
-- Set vim.g.segc_cmd first to run another segc, e.g. { 'node', '/path/to/segc/bin/segc.js', 'lsp' }.

vim.api.nvim_create_autocmd({ 'BufRead', 'BufNewFile' }, {
  pattern = '*.seg',
  callback = function(args)
    vim.bo[args.buf].filetype = 'seg'
  end,
})

local client_id = nil

local function segc_config(bufnr)
  local name = vim.api.nvim_buf_get_name(bufnr)
  return {
    name = 'segc',
    cmd = vim.g.segc_cmd or { 'segc', 'lsp' },
    -- The folder of the first .seg file opened, or of the git repository holding it.
    root_dir = vim.fs and vim.fs.dirname(vim.fs.find({ '.git' }, { upward = true, path = vim.fs.dirname(name) })[1] or name)
      or vim.fn.fnamemodify(name, ':p:h'),
  }
end

vim.api.nvim_create_autocmd('FileType', {
  pattern = 'seg',
  callback = function(args)
    vim.bo[args.buf].commentstring = '# %s'
    if vim.lsp.start then
      -- 0.8 and later: starts the server once, then reuses it for every .seg buffer.
      vim.lsp.start(segc_config(args.buf))
    else
      -- 0.7: one client started by hand, attached to each .seg buffer.
      if client_id == nil or vim.lsp.get_client_by_id(client_id) == nil then
        client_id = vim.lsp.start_client(segc_config(args.buf))
      end
      if client_id ~= nil then
        vim.lsp.buf_attach_client(args.buf, client_id)
      end
    end
  end,
})
