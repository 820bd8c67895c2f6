# Renders bench-throughput.png from bench-throughput.dat (written by make bench).
# Run from this folder: gnuplot bench-throughput.gp
set terminal pngcairo size 900,540 font 'sans,11'
set output 'bench-throughput.png'
set title 'ReadResource throughput against cf-api-sim (2000 reads per point)'
set xlabel 'requests in flight'
set ylabel 'reads per second'
set logscale x 2
set xrange [0.8:640]
set yrange [0:*]
set grid
set key top left
plot 'bench-throughput.dat' using 1:3 with linespoints lw 2 pt 7 title 'plain libcurl-multi client (the limit)', \
     'bench-throughput.dat' using 1:2 with linespoints lw 2 pt 5 title 'provider-cloudflare'
