"""Services: the product's behaviour over the store (turns, import, export), shared by REST and JSON-RPC."""
