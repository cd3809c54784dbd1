# demos/plots/lr_sweep.gp - final validation loss against LR, one curve per width, one panel per
# parametrization (as in the u-muP paper's Figure 1). Diverged, failed and missing runs are left out.
#   gnuplot -e "csv='results/lr_sweep.csv'; out='docs/lr_sweep.png'" demos/plots/lr_sweep.gp
if (!exists("csv")) csv = 'results/lr_sweep.csv'
if (!exists("out")) out = 'docs/lr_sweep.png'
params = system("awk -F, 'NR>1 && !seen[$1]++ {print $1}' ".csv)
widths = system("awk -F, 'NR>1 && !seen[$2]++ {print $2}' ".csv." | sort -n")
np = words(params)
if (np < 1) exit
ymin = system("awk -F, 'NR>1 && $7==0 && ($8==\"\" || $8==\"ok\") && (m==\"\" || $6<m) {m=$6} END {print m}' ".csv) + 0
set terminal pngcairo size 420*np+80,420 font ",10"
set termoption noenhanced
set output out
set datafile separator ","
set logscale x 2
set format x "2^{%L}"
set termoption enhanced
set xlabel "learning rate"
set ylabel "final validation loss (nats/byte)"
set yrange [ymin - 0.05 : ymin + 0.6]
set grid
set key top center font ",9"
set multiplot layout 1, np title "LR sweep: final validation loss (the minimum of each curve is that width's best LR)"
do for [p in params] {
    set title p noenhanced
    plot for [w in widths] sprintf("< awk -F, -v p=%s -v w=%s 'NR>1 && $1==p && $2==w && $7==0 && ($8==\"\" || $8==\"ok\") {print $3\",\"$6}' %s | sort -t, -g -k1,1", p, w, csv) \
        using 1:2 with linespoints pt 7 ps 0.8 title "width ".w
}
unset multiplot
