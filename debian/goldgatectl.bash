# bash completion for goldgatectl (installed by the goldgate-ctl package).
#
# The subcommands and options are read from goldgatectl's own --help at each level (CLI11 prints
# the subcommands, the options and whether each takes a value), so the completion follows the
# program it is installed with and never needs to be kept in step by hand.

# _goldgatectl_help PATH...: the help of `goldgatectl PATH... --help`, or nothing.
_goldgatectl_help() {
    "${_goldgatectl_bin:-goldgatectl}" "$@" --help 2>/dev/null
}

# Subcommand names in a help text (the "Subcommands:" section).
_goldgatectl_subcommands() {
    awk '/^Subcommands:/ { in_sub = 1; next } /^[^ ]/ { in_sub = 0 } in_sub && /^  [a-z]/ { print $1 }'
}

# Options in a help text: every name of every option line, and, with "values", only the options
# that take a value (their names are followed by a type: TEXT, UINT, ...).
_goldgatectl_options() {
    awk -v want="$1" '
        /^Options:/ { in_opt = 1; next }
        /^[^ ]/ { in_opt = 0 }
        in_opt && /^  -/ {
            takes = ($2 ~ /^(TEXT|UINT|INT|FLOAT|NUMBER|ENUM)/)
            if (want == "values" && !takes) next
            n = split($1, names, ",")
            for (i = 1; i <= n; i++) print names[i]
        }'
}

_goldgatectl() {
    local cur prev words cword
    _init_completion -s || return
    local _goldgatectl_bin=${words[0]}

    # The subcommand path so far: each word that is a subcommand of the level before it. Values of
    # options that take one are skipped.
    local -a path=()
    local help subs values i w
    help=$(_goldgatectl_help)
    for ((i = 1; i < cword; i++)); do
        w=${words[i]}
        if [[ $w == -* ]]; then
            values=$(_goldgatectl_options values <<<"$help")
            if [[ $w != *=* ]] && grep -qxF -- "$w" <<<"$values"; then
                ((i++))
            fi
            continue
        fi
        subs=$(_goldgatectl_subcommands <<<"$help")
        if grep -qxF -- "$w" <<<"$subs"; then
            path+=("$w")
            help=$(_goldgatectl_help "${path[@]}")
        fi
    done

    # A value for the option just typed.
    if [[ $prev == -* ]] && grep -qxF -- "$prev" <<<"$(_goldgatectl_options values <<<"$help")"; then
        case $prev in
            --format) mapfile -t COMPREPLY < <(compgen -W 'json ocsf cef leef rfc5424' -- "$cur") ;;
            --proto) mapfile -t COMPREPLY < <(compgen -W 'tcp udp icmp icmpv6' -- "$cur") ;;
            --normalise) mapfile -t COMPREPLY < <(compgen -W 'digits lower exact' -- "$cur") ;;
            --for | --limit | --threshold | --at | --id | --by | --vm | --uuid | --mac | --ip | --label | --segment | \
                --app | --column | --port | --max-decoded-mb | --max-ratio | --max-depth) ;;
            --classes | --cache) _filedir -d ;;
            *) _filedir ;;
        esac
        return
    fi

    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$(_goldgatectl_options all <<<"$help")" -- "$cur")
        return
    fi
    subs=$(_goldgatectl_subcommands <<<"$help")
    if [[ -n $subs ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$subs" -- "$cur")
    elif grep -q '^Positionals:' <<<"$help"; then
        # Files, folders, captures, kernel images, manifests.
        _filedir
    fi
}
complete -F _goldgatectl goldgatectl
