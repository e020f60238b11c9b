#ifndef DEFUSE_CLI_COMMANDS_H
#define DEFUSE_CLI_COMMANDS_H

/* Each returns the process exit status; argv[0] is the command's name. */
int cmd_trace(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_mount(int argc, char **argv);
int cmd_umount(int argc, char **argv);

#endif
