set terminal pngcairo size 1100,700 font 'sans,11' noenhanced
set output '/tmp/bb/run2/rate.png'
set title 'pmq-bench rate latency, 64 B messages, CPUs 0,1, wait spin, 1024 slots (all repetitions merged)'
set logscale x
set logscale y
set xlabel 'percentile'
set ylabel 'latency (us)'
set xtics ('0%%' 1, '90%%' 10, '99%%' 100, '99.9%%' 1000, '99.99%%' 10000, '99.999%%' 100000, '99.9999%%' 1000000)
set grid xtics ytics mytics
set key outside right top
plot \
  '/tmp/bb/run2/rate.png.dat' index 0 using 1:2 with linespoints pt 7 ps 0.5 lw 2 title 'floor-ring', \
  '/tmp/bb/run2/rate.png.dat' index 1 using 1:2 with linespoints pt 7 ps 0.5 lw 2 title 'pmq', \
  '/tmp/bb/run2/rate.png.dat' index 2 using 1:2 with linespoints pt 7 ps 0.5 lw 2 title 'pmq-spsc', \
  '/tmp/bb/run2/rate.png.dat' index 3 using 1:2 with linespoints pt 7 ps 0.5 lw 2 title 'pipe', \
  '/tmp/bb/run2/rate.png.dat' index 4 using 1:2 with linespoints pt 7 ps 0.5 lw 2 title 'unix', \
  '/tmp/bb/run2/rate.png.dat' index 5 using 1:2 with linespoints pt 7 ps 0.5 lw 2 title 'mq', \
  '/tmp/bb/run2/rate.png.dat' index 6 using 1:2 with linespoints pt 7 ps 0.5 lw 2 title 'zmq', \
  '/tmp/bb/run2/rate.png.dat' index 7 using 1:2 with linespoints pt 7 ps 0.5 lw 2 title 'iceoryx'
