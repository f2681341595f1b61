//! orch control plane: object model, store, API server, scheduler, controllers, node agent and CLI.
