// bench/node/driver.mjs -- the Node.js side of bench/run.sh.
//
// pg-boss is a Node.js library: its jobs are sent, fetched and completed
// through its API, which builds the SQL and runs it with node-postgres.
// To compare it on the same client stack, awa_queue runs here too, through
// node-postgres with its SQL API (one parameterized statement per call,
// as pg-boss sends them: no named prepared statements on either side).
//
// usage: node driver.mjs SYSTEM COMMAND ARGS...
//   SYSTEM   pgboss | awa_queue_node
//   setup                          create the queue "bench" (pg-boss: its
//                                  schema too); the database comes from
//                                  PGDATABASE
//   enqueue CLIENTS SECONDS BATCH  CLIENTS loops, each sending one call of
//                                  BATCH jobs at a time (BATCH 1: one job per
//                                  call, i.e. per transaction) for SECONDS
//   preload JOBS                   JOBS jobs in calls of 100
//   drain CLIENTS BATCH MAX_SECS   CLIENTS loops, each fetching (claiming)
//                                  up to BATCH jobs and completing them, two
//                                  transactions per batch, until one of them
//                                  comes back empty with no job left
//                                  (bench_backlog() = 0) or MAX_SECS pass
// enqueue and drain print "JOBS SECONDS": jobs done and the time taken from
// the moment every connection was open.  Connection settings come from the
// PG* environment variables; one pool connection per client loop.
import pg from 'pg';
import PgBoss from 'pg-boss';

const QUEUE = 'bench';
const [system, command, ...args] = process.argv.slice(2);

function connection(max) {
  return {
    host: process.env.PGHOST,
    port: Number(process.env.PGPORT || 5432),
    user: process.env.PGUSER || 'postgres',
    database: process.env.PGDATABASE,
    max,
  };
}

// The jobs of one call: BATCH objects { n: i }.
function jobsOf(batch) {
  return Array.from({ length: batch }, (_, i) => ({ n: i + 1 }));
}

// A system: open(max) once, then enqueue(batch), claim(batch) -> handle,
// complete(handle), close().
const systems = {
  pgboss: {
    async open(max) {
      // No supervisor (maintenance) and no cron clock: the other systems run
      // no maintenance in S1/S2 either.
      this.boss = new PgBoss({ ...connection(max), supervise: false, schedule: false });
      this.boss.on('error', (e) => { console.error(e); process.exit(1); });
      await this.boss.start();
    },
    async setup() {
      if (!(await this.boss.getQueue(QUEUE))) await this.boss.createQueue(QUEUE);
    },
    async enqueue(batch) {
      if (batch === 1) await this.boss.send(QUEUE, { n: 1 });
      else await this.boss.insert(jobsOf(batch).map((data) => ({ name: QUEUE, data })));
      return batch;
    },
    async claim(batch) {
      return this.boss.fetch(QUEUE, { batchSize: batch });
    },
    async complete(jobs) {
      await this.boss.complete(QUEUE, jobs.map((j) => j.id));
    },
    async close() { await this.boss.stop({ graceful: false, wait: true }); },
  },
  awa_queue_node: {
    async open(max) { this.pool = new pg.Pool(connection(max)); },
    async setup() { /* bench/awa_queue.sql created the extension */ },
    async enqueue(batch) {
      if (batch === 1) {
        await this.pool.query('SELECT awa.enqueue($1, $2::jsonb, $3)', [QUEUE, '{"n": 1}', QUEUE]);
      } else {
        const jobs = jobsOf(batch).map((a) => ({ kind: QUEUE, queue: QUEUE, args: a }));
        await this.pool.query('SELECT count(*) FROM awa.enqueue_many($1::jsonb)', [JSON.stringify(jobs)]);
      }
      return batch;
    },
    async claim(batch) {
      const r = await this.pool.query('SELECT job_id, run_lease FROM awa.claim_batch($1, $2)', [QUEUE, batch]);
      return r.rows;
    },
    async complete(rows) {
      await this.pool.query('SELECT count(*) FROM awa.complete_batch($1::bigint[], $2::bigint[])',
        [rows.map((r) => r.job_id), rows.map((r) => r.run_lease)]);
    },
    async close() { await this.pool.end(); },
  },
};

async function main() {
  const sys = systems[system];
  if (!sys || !command) {
    console.error('usage: node driver.mjs pgboss|awa_queue_node setup|enqueue|preload|drain ARGS...');
    process.exit(2);
  }
  const n = args.map(Number);
  const clients = command === 'enqueue' || command === 'drain' ? n[0] : 1;
  await sys.open(clients);
  const control = new pg.Client(connection(1));
  await control.connect();
  // every pool connection open before the clock starts (pg-boss opens its
  // own on first use, as its users' pools do)
  if (sys.pool) {
    const opened = await Promise.all(Array.from({ length: clients }, () => sys.pool.connect()));
    opened.forEach((c) => c.release());
  }
  try {
    if (command === 'setup') {
      await sys.setup();
    } else if (command === 'preload') {
      for (let done = 0; done < n[0]; done += 100) await sys.enqueue(Math.min(100, n[0] - done));
    } else if (command === 'enqueue') {
      const [, seconds, batch] = n;
      const t0 = performance.now();
      const end = t0 + seconds * 1000;
      let jobs = 0;
      await Promise.all(Array.from({ length: clients }, async () => {
        while (performance.now() < end) {
          const k = await sys.enqueue(batch);
          jobs += k;
        }
      }));
      console.log(jobs, ((performance.now() - t0) / 1000).toFixed(3));
    } else if (command === 'drain') {
      const [, batch, maxSecs] = n;
      const t0 = performance.now();
      const end = t0 + maxSecs * 1000;
      let jobs = 0;
      let drainedAt = null;
      await Promise.all(Array.from({ length: clients }, async () => {
        while (drainedAt === null && performance.now() < end) {
          const claimed = await sys.claim(batch);
          if (claimed.length > 0) {
            await sys.complete(claimed);
            jobs += claimed.length;
          } else if (Number((await control.query('SELECT bench_backlog() AS b')).rows[0].b) === 0) {
            drainedAt ??= performance.now();
          }
        }
      }));
      console.log(jobs, (((drainedAt ?? performance.now()) - t0) / 1000).toFixed(3));
    } else {
      throw new Error(`unknown command ${command}`);
    }
  } finally {
    await control.end();
    await sys.close();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
