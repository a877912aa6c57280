using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ (name = "main", worker = .mainWorker) ],
  sockets = [ (name = "http", address = "127.0.0.1:8787", http = (), service = "main") ],
);

const mainWorker :Workerd.Worker = (
  modules = [
    (name = "worker.mjs", esModule = embed "worker.mjs"),
    (name = "pkg/web/tonystore.js", esModule = embed "../pkg/web/tonystore.js"),
    (name = "pkg/web/tonystore_bg.wasm", wasm = embed "../pkg/web/tonystore_bg.wasm"),
  ],
  compatibilityDate = "2025-01-01",
);
