# bench/plot.gp -- S2 drain throughput by batch size, one line per system.
# Called by bench/run.sh with -e "datafile='...'; outfile='...'; ncols=N"
# (ncols: columns of the data file, batch size first).
set terminal pngcairo size 800,500 noenhanced
set output outfile
set title "S2 drain: jobs/s by batch size (claim + complete per transaction)"
set xlabel "batch size (jobs per transaction)"
set ylabel "jobs/s"
set logscale x
set xtics (1, 10, 100, 500)
set key top left
set grid
set datafile missing "-"
set key autotitle columnhead
plot for [i=2:ncols] datafile using 1:i with linespoints lw 2
