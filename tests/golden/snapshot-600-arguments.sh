args=()
for i in $(seq 1 600); do args+=(--raw "argument number $i with 'quotes' and \"more\""); done
snapshot "${args[@]}"
echo "600 arguments accepted"
