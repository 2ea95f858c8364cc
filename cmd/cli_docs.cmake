# Man pages and bash completion, generated at build time by the cnnrun
# binary from its own tables (cmd/man.c, cmd/complete.c): nothing here lists
# a command or an option. Included from the top CMakeLists.txt after the
# cnnrun target.
set(CNNRUN_MAN_DIR ${CMAKE_BINARY_DIR}/man)
set(CNNRUN_COMPLETION ${CMAKE_BINARY_DIR}/completion/cnnrun)

# One stamp for the pages: their names come from the command table, so the
# build does not know them in advance; install takes the folder's *.1, *.5.
add_custom_command(
  OUTPUT ${CNNRUN_MAN_DIR}/.stamp
  COMMAND ${CMAKE_COMMAND} -E rm -rf ${CNNRUN_MAN_DIR}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${CNNRUN_MAN_DIR}
  COMMAND $<TARGET_FILE:cnnrun> __man ${CNNRUN_MAN_DIR}
  COMMAND ${CMAKE_COMMAND} -E touch ${CNNRUN_MAN_DIR}/.stamp
  DEPENDS cnnrun
  COMMENT "Generating the man pages")
add_custom_command(
  OUTPUT ${CNNRUN_COMPLETION}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/completion
  COMMAND $<TARGET_FILE:cnnrun> __bash-completion ${CNNRUN_COMPLETION}
  DEPENDS cnnrun
  COMMENT "Generating the bash completion")
add_custom_target(cnnrun_cli_docs ALL DEPENDS ${CNNRUN_MAN_DIR}/.stamp ${CNNRUN_COMPLETION})

include(GNUInstallDirs)
install(DIRECTORY ${CNNRUN_MAN_DIR}/ DESTINATION ${CMAKE_INSTALL_MANDIR}/man1
        FILES_MATCHING PATTERN "*.1")
install(DIRECTORY ${CNNRUN_MAN_DIR}/ DESTINATION ${CMAKE_INSTALL_MANDIR}/man5
        FILES_MATCHING PATTERN "*.5")
install(FILES ${CNNRUN_COMPLETION} DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
