/* Running a stage: this executable again, as a child process in the study folder (run.h). */
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int run_self_path(char *buf, size_t cap)
{
    ssize_t n = readlink("/proc/self/exe", buf, cap - 1);
    if (n <= 0 || (size_t)n >= cap - 1)
        return -1;
    buf[n] = '\0';
    return 0;
}

int run_child(const char *self, const char *cwd, char *const argv[], const char *stdout_path,
              int *exit_status)
{
    char tmp[4096] = "";
    if (stdout_path && stdout_path[0] == '/') {
        snprintf(tmp, sizeof tmp, "%s", stdout_path);   /* e.g. /dev/null: opened as it is */
        stdout_path = NULL;
    } else if (stdout_path &&
               snprintf(tmp, sizeof tmp, "%s/%s.tmp%ld", cwd, stdout_path, (long)getpid()) >= (int)sizeof tmp) {
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (chdir(cwd) != 0)
            _exit(127);
        if (tmp[0]) {
            int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0)
                _exit(127);
            close(fd);
        }
        execv(self, argv);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    *exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    if (stdout_path) {
        char final[4096];
        snprintf(final, sizeof final, "%s/%s", cwd, stdout_path);
        if (*exit_status == 0) {
            if (rename(tmp, final) != 0) {
                remove(tmp);
                *exit_status = 1;
            }
        } else {
            remove(tmp);
        }
    }
    return 0;
}
