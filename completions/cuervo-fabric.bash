_cuervo_fabric_completion() {
    local IFS=$'
'
    COMPREPLY=( $( env COMP_WORDS="${COMP_WORDS[*]}" \
                   COMP_CWORD=$COMP_CWORD \
                   _CUERVO_FABRIC_COMPLETE=complete_bash $1 ) )
    return 0
}

complete -o default -F _cuervo_fabric_completion cuervo-fabric
