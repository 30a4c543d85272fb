# Shared by demo.sh and support-demo.sh: headings, and printing each command before running it.
bold=""; plain=""
if [[ -t 1 && -z "${NO_COLOR:-}" ]]; then bold=$'\e[1m'; plain=$'\e[0m'; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
# Prints a command the way it would be typed (arguments with spaces quoted).
show() {
    local out="" a
    for a in "$@"; do
        if [[ "$a" =~ [^A-Za-z0-9_./:=@%+,-] ]]; then
            if [[ "$a" == *"'"* && "$a" != *[\"\$\`\\]* ]]; then a="\"$a\""; else a="'${a//\'/\'\\\'\'}'"; fi
        fi
        out+=" $a"
    done
    printf '%s$%s%s\n' "$bold" "$out" "$plain"
}
run() { show "$@"; "$@"; }
backstop() { "$backstop" "$@"; }
