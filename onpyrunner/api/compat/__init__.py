"""Compatible APIs: other services' wire formats over the native job path.

Each compatible API (judge0/, piston/, sandboxfusion/) is a translation, nothing more
(docs/api.md, "Adding a compatible API"):
- in: parse the foreign request, build the native `JobCreate` (units converted here, at
  the edge), and submit it through `api.submit` (`job_request`, then `submit`,
  `submit_many` or `submit_and_wait`): the native path checks sizes, languages and limits,
  queues, and raises the native errors;
- out: render the native `Job` in the foreign shape, and translate the native errors into
  the foreign error shape;
- waiting (a foreign `wait`, callbacks) uses `api.waiting`; what the foreign API must answer
  back about a request travels with the job as its `Origin`.
No queueing, waiting, limit or error logic of its own.
"""
