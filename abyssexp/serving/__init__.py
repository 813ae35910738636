"""``abyssexp serve``: a model behind HTTP, batched, swapped when its alias moves.

``options`` (what to serve and how: pure, no TensorFlow) → ``loaded`` (the model resolved,
verified against its manifest, loaded, warmed up) → ``batching`` (concurrent requests gathered
into one model call) → ``watch`` (the alias polled; a new model loaded beside the old one and
swapped between batches) → ``app`` (the Starlette routes, limits and metrics) → ``server``
(uvicorn, graceful stop). The command line reaches it through ``server.serve`` alone.
"""
