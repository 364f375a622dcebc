"""Every Redis key and channel OnPyRunner uses, built here and nowhere else."""

from __future__ import annotations


class Keys:
    """Key names under one prefix (setting redis_prefix, default "onpyrunner:").

    Layout:
      <p>jobs:<language>   stream of the language's job ids waiting or running; consumer
                           group "workers" (a worker reads the streams of its languages)
      <p>job:<id>          hash: the job's state, its request (until it finishes), its result
      <p>events:<id>       pub/sub channel: the job's new status on every change
      <p>control           pub/sub channel: "cancel <id>" for the worker running a job
      <p>workers           sorted set: worker id -> time of its last heartbeat
      <p>languages         hash: runtime id -> JSON {name, version}, written by workers
      <p>session:<id>:out  stream: a live run's output log (queue/session.py), field "e"
      <p>session:<id>:in   list: commands waiting for a live run's program, JSON each
      <p>session:<id>:clients  sorted set: attached client -> time its presence lapses
      <p>history           stream of ended jobs' ids on their way to the history database;
                           consumer group "history" (the API processes' history writers).
                           Written only once it exists (an API with the history on made it)
      <p>history:dropped   counter: ended jobs dropped from that stream past its bound
      <p>testset:<id>      string: a test set's JSON (its cases), id "sha256:<hex>"; TTL
      <p>batch:<id>        string: a batch's job ids, a JSON list; TTL job_ttl_s
    """

    GROUP = "workers"
    HISTORY_GROUP = "history"

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.control = f"{prefix}control"
        self.workers = f"{prefix}workers"
        self.languages = f"{prefix}languages"
        self.events_pattern = f"{prefix}events:*"
        self.history = f"{prefix}history"
        self.history_dropped = f"{prefix}history:dropped"

    def stream(self, language: str) -> str:
        return f"{self.prefix}jobs:{language}"

    def job(self, job_id: str) -> str:
        return f"{self.prefix}job:{job_id}"

    def batch(self, batch_id: str) -> str:
        return f"{self.prefix}batch:{batch_id}"

    def test_set(self, set_id: str) -> str:
        return f"{self.prefix}testset:{set_id}"

    def events(self, job_id: str) -> str:
        return f"{self.prefix}events:{job_id}"

    def session_output(self, job_id: str) -> str:
        return f"{self.prefix}session:{job_id}:out"

    def session_input(self, job_id: str) -> str:
        return f"{self.prefix}session:{job_id}:in"

    def session_clients(self, job_id: str) -> str:
        return f"{self.prefix}session:{job_id}:clients"

    def job_id_of_events(self, channel: str) -> str:
        """The job id a message on an events channel is about."""
        return channel[len(self.prefix) + len("events:") :]
