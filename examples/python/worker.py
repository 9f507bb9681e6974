#!/usr/bin/python3
"""An awa_queue worker in Python with psycopg 3.

The loop: LISTEN on the queue's channel, claim a batch with awa.claim_batch,
run the handler registered for each job's kind, then finish the whole batch
in at most three statements: awa.complete_batch for the successes and
awa.fail_batch for the failures (retryable, and terminal for PermanentError).
A background thread heartbeats jobs that run longer than --heartbeat seconds
with awa.heartbeat_batch.  When no notification arrives the worker polls
every --poll seconds, so a lost notification only delays a job.

    /usr/bin/python3 worker.py --queue default --batch 10
    /usr/bin/python3 worker.py --max-jobs 100 --idle-exit 5   # bounded run

The connection comes from the libpq environment (PGHOST, PGPORT, PGUSER,
PGDATABASE, ...) or --dsn.  The role needs awa.grant_worker(role).
Delivery is at least once: a handler may run again after a crash or after
its deadline expired, so make handlers idempotent.
"""

import argparse
import datetime
import hashlib
import json
import select
import signal
import sys
import threading
import time

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb


class PermanentError(Exception):
    """Raised by a handler when retrying cannot help: the job fails now."""


HANDLERS = {}


def handler(kind):
    """Register the decorated function as the handler of jobs of `kind`."""

    def register(fn):
        HANDLERS[kind] = fn
        return fn

    return register


class Job:
    """One claimed attempt, as handed to a handler."""

    def __init__(self, row, conn):
        (self.id, self.run_lease, self.kind, self.args, self.attempt,
         self.max_attempts, self.deadline_at) = row
        self.conn = conn                # the worker's connection (autocommit)
        self.started = time.monotonic()
        self._progress = None
        self._lock = threading.Lock()

    def progress(self, value):
        """Record progress (any JSON value); sent with the next heartbeat."""
        with self._lock:
            self._progress = value

    def take_progress(self):
        with self._lock:
            value, self._progress = self._progress, None
            return value


# --- handlers of the example application (see producer.py) ---------------

@handler("send_receipt")
def send_receipt(job):
    """Mark the order as receipted; the order row came with the job."""
    with job.conn.transaction():
        cur = job.conn.execute(
            "UPDATE app_orders SET receipt_sent_at = now()"
            " WHERE id = %s RETURNING id", (job.args["order_id"],))
        if cur.fetchone() is None:
            raise PermanentError(f"order {job.args['order_id']} does not exist")


@handler("slow_report")
def slow_report(job):
    """A long job: reports progress while it runs; the heartbeat thread
    sends it with awa.heartbeat_batch."""
    seconds = float(job.args.get("seconds", 2))
    steps = 10
    for step in range(steps):
        time.sleep(seconds / steps)
        job.progress({"percent": (step + 1) * 100 // steps})


@handler("flaky")
def flaky(job):
    """Always raises: retried with backoff until max_attempts, then failed."""
    raise RuntimeError("upstream service unavailable")


@handler("reject")
def reject(job):
    """A permanent error: fails the job at once, whatever attempts remain."""
    raise PermanentError(f"invalid input {json.dumps(job.args)}")


# --- the worker -----------------------------------------------------------

def channel_of(queue):
    """The NOTIFY channel of a queue: 'awa:' || queue, or 'awa:' || md5(queue)
    when that would not fit in the 63 bytes of a channel name."""
    name = queue.encode()
    if len(name) + 4 < 64:
        return "awa:" + queue
    return "awa:" + hashlib.md5(name).hexdigest()


class Heartbeater(threading.Thread):
    """Heartbeats, on its own connection, every tracked job that has been
    running for at least `interval` seconds."""

    def __init__(self, dsn, interval):
        super().__init__(daemon=True)
        self.dsn = dsn
        self.interval = interval
        self.jobs = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.sent = 0

    def track(self, job):
        with self.lock:
            self.jobs[job.id] = job

    def untrack(self, job):
        with self.lock:
            self.jobs.pop(job.id, None)

    def run(self):
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.stopping.wait(self.interval / 2):
                now = time.monotonic()
                with self.lock:
                    due = [j for j in self.jobs.values()
                           if now - j.started >= self.interval]
                if not due:
                    continue
                progress = [j.take_progress() for j in due]
                cur = conn.execute(
                    "SELECT awa.heartbeat_batch(%s::bigint[], %s::bigint[],"
                    " %s::jsonb[])",
                    ([j.id for j in due], [j.run_lease for j in due],
                     [None if p is None else Jsonb(p) for p in progress]))
                self.sent += cur.fetchone()[0]

    def stop(self):
        self.stopping.set()
        self.join()


class Worker:
    def __init__(self, opts):
        self.opts = opts
        self.stopping = False
        self.notified = False
        self.stats = {"claimed": 0, "completed": 0, "retryable": 0,
                      "failed": 0, "stale": 0, "heartbeats": 0, "batches": 0}

    def stop(self, *_):
        """Finish the current batch, then exit (SIGINT, SIGTERM)."""
        self.stopping = True

    def run(self):
        opts = self.opts
        conn = psycopg.connect(opts.dsn, autocommit=True)
        conn.add_notify_handler(lambda n: setattr(self, "notified", True))
        conn.execute(sql.SQL("LISTEN {}").format(
            sql.Identifier(channel_of(opts.queue))))
        beats = Heartbeater(opts.dsn, opts.heartbeat)
        beats.start()
        idle_since = time.monotonic()
        try:
            while not self.stopping:
                want = opts.batch
                if opts.max_jobs:
                    want = min(want, opts.max_jobs - self.stats["claimed"])
                    if want <= 0:
                        break
                self.notified = False
                jobs = self.claim(conn, want)
                if jobs:
                    self.process(conn, jobs, beats)
                    idle_since = time.monotonic()
                    continue
                if opts.idle_exit and \
                        time.monotonic() - idle_since >= opts.idle_exit:
                    break
                self.wait(conn, opts.poll)
        finally:
            beats.stop()
            self.stats["heartbeats"] = beats.sent
            conn.close()
        return self.stats

    def wait(self, conn, timeout):
        """Sleep until a notification arrives on the connection, or timeout."""
        if self.notified or self.stopping:
            return
        select.select([conn.fileno()], [], [], timeout)

    def claim(self, conn, want):
        cur = conn.execute(
            "SELECT job_id, run_lease, kind, args, attempt, max_attempts,"
            " deadline_at FROM awa.claim_batch(%s::text, %s::integer,"
            " %s::interval)",
            (self.opts.queue, want,
             datetime.timedelta(seconds=self.opts.deadline)))
        return [Job(row, conn) for row in cur.fetchall()]

    def process(self, conn, jobs, beats):
        self.stats["claimed"] += len(jobs)
        self.stats["batches"] += 1
        done, retry, dead = [], [], []
        for job in jobs:
            fn = HANDLERS.get(job.kind)
            job.started = time.monotonic()
            beats.track(job)
            try:
                if fn is None:
                    raise PermanentError(f"no handler for kind {job.kind!r}")
                fn(job)
            except PermanentError as e:
                dead.append((job, str(e)))
            except Exception as e:  # noqa: BLE001 -- any handler error retries
                retry.append((job, f"{type(e).__name__}: {e}"))
            else:
                done.append(job)
            finally:
                beats.untrack(job)
        if done:
            cur = conn.execute(
                "SELECT job_id FROM awa.complete_batch(%s::bigint[],"
                " %s::bigint[])",
                ([j.id for j in done], [j.run_lease for j in done]))
            finished = len(cur.fetchall())
            self.stats["completed"] += finished
            self.stats["stale"] += len(done) - finished
        for failures, terminal in ((retry, False), (dead, True)):
            if not failures:
                continue
            cur = conn.execute(
                "SELECT job_id, state::text FROM awa.fail_batch(%s::bigint[],"
                " %s::bigint[], %s::text[], %s)",
                ([j.id for j, _ in failures], [j.run_lease for j, _ in failures],
                 [err for _, err in failures], terminal))
            rows = cur.fetchall()
            for _, state in rows:
                key = "retryable" if state == "retryable" else "failed"
                self.stats[key] += 1
            self.stats["stale"] += len(failures) - len(rows)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dsn", default="", help="libpq connection string")
    p.add_argument("--queue", default="default")
    p.add_argument("--batch", type=int, default=10, help="jobs per claim")
    p.add_argument("--deadline", type=float, default=300,
                   help="seconds an attempt may run before rescue")
    p.add_argument("--heartbeat", type=float, default=30,
                   help="heartbeat jobs running longer than this (seconds)")
    p.add_argument("--poll", type=float, default=5,
                   help="claim at least this often without notifications")
    p.add_argument("--max-jobs", type=int, default=0,
                   help="exit after claiming this many jobs (0: never)")
    p.add_argument("--idle-exit", type=float, default=0,
                   help="exit after this many idle seconds (0: never)")
    opts = p.parse_args()
    worker = Worker(opts)
    signal.signal(signal.SIGINT, worker.stop)
    signal.signal(signal.SIGTERM, worker.stop)
    stats = worker.run()
    print(json.dumps(stats, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
