# Shared by the bench/ shell scripts (sourced): summary statistics of repeated measurements.

# Numbers on stdin (any whitespace between them) -> "median min max" on one line.
median_min_max() {
  tr -s ' \t' '\n\n' | grep . | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)], a[1], a[NR]}'
}
