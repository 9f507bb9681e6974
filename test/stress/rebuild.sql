-- storm: rebuild the live terminal counters while everything else runs
SELECT awa.rebuild_terminal_counters();
