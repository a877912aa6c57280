// `tonystore/proxy-worker` is imported for its effect: it answers the window entry's calls in
// the worker that runs it. It exports nothing.
export {};
