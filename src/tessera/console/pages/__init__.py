"""The console's pages, one module per area; `tessera.console.routes` mounts them."""
