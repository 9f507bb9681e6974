SELECT state, count(*) FROM jobs WHERE queue = 'bench' GROUP BY state;
