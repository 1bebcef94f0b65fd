#compdef cuervo-fabric

_cuervo_fabric_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _CUERVO_FABRIC_COMPLETE=complete_zsh cuervo-fabric)
}

compdef _cuervo_fabric_completion cuervo-fabric
