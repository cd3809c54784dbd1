# demos/plots/coord_check_levers.gp - what moves u-muP's coordinate-check growth: one line per run.
#   gnuplot -e "csv='results/levers/coord_check_summary.csv'; out='docs/coord_check_levers.png'" demos/plots/coord_check_levers.gp
# Reads coord_check's summary CSV (label,param,step,max_ratio_4x,max_module,min_ratio_4x,min_module,...),
# one label per run (coord_check --label ... --append). x = step t, y = the largest ratio of a module's
# mean |x| between the two widest widths 4x apart (solid: max_ratio_top, 256 -> 1024 by default) and
# the smallest between any widths 4x apart (dashed: min_ratio_4x), logits excluded.
if (!exists("csv")) csv = 'results/levers/coord_check_summary.csv'
if (!exists("out")) out = 'docs/coord_check_levers.png'
labels = system("awk -F, 'NR>1 && !seen[$1]++ {print $1}' ".csv)
if (strlen(labels) == 0) exit
set terminal pngcairo size 900,520 font ",10"
set termoption noenhanced
set output out
set datafile separator ","
set xlabel "step t (before update t)"
set ylabel "mean |x| ratio, width 4w / width w"
set grid
set key outside right
set xtics 1
set title "u-muP coordinate check: largest ratio between the widest pair (solid), smallest over all pairs (dashed)"
n = words(labels)
plot for [i = 1:n] sprintf("< awk -F, -v l=%s 'NR>1 && $1==l {print $3\",\"$8}' %s", word(labels, i), csv) \
         using 1:2 with linespoints lw 2 pt 7 lc i title word(labels, i), \
     for [i = 1:n] sprintf("< awk -F, -v l=%s 'NR>1 && $1==l {print $3\",\"$6}' %s", word(labels, i), csv) \
         using 1:2 with lines dt 2 lw 1.5 lc i notitle, \
     1 with lines lc rgb "black" dt 3 notitle
