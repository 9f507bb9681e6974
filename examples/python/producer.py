#!/usr/bin/python3
"""An awa_queue producer in Python with psycopg 3.

Each order is written in one business transaction together with the job that
sends its receipt: awa.enqueue is transactional, so the job exists if and
only if the order commits.  The run ends by placing an order that is rolled
back and checking that it left no job behind.

    /usr/bin/python3 producer.py --orders 20            # one transaction each
    /usr/bin/python3 producer.py --orders 500 --batch   # one transaction, enqueue_many

The connection comes from the libpq environment (PGHOST, PGPORT, PGUSER,
PGDATABASE, ...) or --dsn.  The role needs awa.grant_producer(role) and
rights on the app_orders table.
"""

import argparse
import json
import sys

import psycopg
from psycopg.types.json import Jsonb

SCHEMA = """
CREATE TABLE IF NOT EXISTS app_orders (
    id bigserial PRIMARY KEY,
    customer text NOT NULL,
    total_cents integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    receipt_sent_at timestamptz
)"""


class Abandoned(Exception):
    """Raised inside a transaction to roll it back."""


def place_order(conn, queue, customer, total_cents):
    """Insert an order and enqueue its receipt job in one transaction;
    returns (order_id, job_id)."""
    with conn.transaction():
        (order_id,) = conn.execute(
            "INSERT INTO app_orders (customer, total_cents)"
            " VALUES (%s, %s) RETURNING id", (customer, total_cents)).fetchone()
        (job_id,) = conn.execute(
            "SELECT awa.enqueue('send_receipt', %s, queue => %s)",
            (Jsonb({"order_id": order_id}), queue)).fetchone()
    return order_id, job_id


def place_orders_batch(conn, queue, customers, totals):
    """Insert many orders and enqueue all their jobs with one
    awa.enqueue_many call, in one transaction; returns the job ids."""
    with conn.transaction():
        cur = conn.execute(
            """
            WITH o AS (
                INSERT INTO app_orders (customer, total_cents)
                SELECT * FROM unnest(%s::text[], %s::integer[])
                RETURNING id)
            SELECT awa.enqueue_many((
                SELECT jsonb_agg(jsonb_build_object(
                           'kind', 'send_receipt', 'queue', %s::text,
                           'args', jsonb_build_object('order_id', id))
                       ORDER BY id)
                FROM o))""", (customers, totals, queue))
        return [row[0] for row in cur.fetchall()]


def abandoned_order_leaves_no_job(conn, queue):
    """Enqueue inside a transaction that then fails: neither the order nor
    the job survives.  Returns the id the rolled-back job had."""
    job_id = None
    try:
        with conn.transaction():
            conn.execute("INSERT INTO app_orders (customer, total_cents)"
                         " VALUES ('abandoned', 0)")
            (job_id,) = conn.execute(
                "SELECT awa.enqueue('send_receipt', '{\"order_id\": -1}',"
                " queue => %s)", (queue,)).fetchone()
            raise Abandoned("payment declined")
    except Abandoned:
        pass
    (count,) = conn.execute(
        "SELECT count(*) FROM awa.jobs WHERE id = %s", (job_id,)).fetchone()
    if count != 0:
        raise SystemExit(f"job {job_id} survived its rolled-back transaction")
    return job_id


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dsn", default="", help="libpq connection string")
    p.add_argument("--queue", default="default")
    p.add_argument("--orders", type=int, default=10)
    p.add_argument("--batch", action="store_true",
                   help="one transaction and one awa.enqueue_many call")
    opts = p.parse_args()
    with psycopg.connect(opts.dsn) as conn:
        with conn.transaction():
            conn.execute(SCHEMA)
        customers = [f"customer-{i}" for i in range(opts.orders)]
        totals = [100 * (i + 1) for i in range(opts.orders)]
        if opts.batch:
            jobs = place_orders_batch(conn, opts.queue, customers, totals)
        else:
            jobs = [place_order(conn, opts.queue, c, t)[1]
                    for c, t in zip(customers, totals)]
        rolled_back = abandoned_order_leaves_no_job(conn, opts.queue)
    print(json.dumps({"enqueued": len(jobs), "first_job": min(jobs, default=None),
                      "rolled_back_job": rolled_back}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
