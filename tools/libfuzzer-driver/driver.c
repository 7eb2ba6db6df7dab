// virtsim's libFuzzer driver: libFuzzer (linked with -fsanitize=fuzzer) runs here and forwards every input to a
// long-lived `virtsim fuzz libfuzzer --target <t>` process, which serves it through SharpFuzz's
// Fuzzer.LibFuzzer.Run (src/Fuzz/Glue/LibFuzzerRunner.cs). That runner speaks libfuzzer-dotnet's protocol
// (SharpFuzz 2.3.0, src/SharpFuzz/Fuzzer.LibFuzzer.cs), which this file implements from its description:
//   one System V segment: the 64 KiB edge map, then up to 1 MiB of input; __LIBFUZZER_SHM_ID names it;
//   two pipes whose fds the child finds in __LIBFUZZER_CONTROL_PIPE_ID (us -> it) and
//   __LIBFUZZER_STATUS_PIPE_ID (it -> us);
//   hello: the child writes a status of 0 (host-endian int32);
//   per input: we clear the map, copy the input after it and write its length (int32); the child runs it (its
//   instrumented code writes edges straight into the map) and answers a status: 0, or 2 when it reported a
//   finding, after which it exits. We copy the map into libFuzzer's extra counters, so libFuzzer is guided by
//   the .NET edges.
// A status of 2 (or the child dying) is a finding. Which kind is in the child's exit code, 128 + the finding's
// signal: 142 (SIGALRM) is a hang, which we leave running until libFuzzer's own -timeout fires, so libFuzzer
// saves it as timeout-*; anything else is a crash, which we abort() on, so libFuzzer saves it as crash-*.
// Usage: virtsim-libfuzzer --virtsim='<command>' [libFuzzer flags] <corpus dirs>   (flags starting with "--"
// are ignored by libFuzzer). VIRTSIM_CMD in the environment works too. Without -timeout we add -timeout=25
// (OSS-Fuzz's), since libFuzzer's own default (1200 s) would keep a reported hang waiting 20 minutes.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAP_SIZE 65536u
#define INPUT_BYTES_MAX (1u << 20)
#define STATUS_FINDING 2
#define HANG_EXIT_CODE (128 + SIGALRM)
#define DEFAULT_TIMEOUT_SECONDS 25
#define DEFAULT_TIMEOUT "-timeout=25"

// libFuzzer reads this section as extra 8-bit counters on Linux (FuzzerExtraCounters.cpp) and clears it before
// each run; we overwrite it with the .NET map after each run.
__attribute__((used, section("__libfuzzer_extra_counters"))) static uint8_t extra_counters[MAP_SIZE];

static uint8_t *segment;
static int control_fd = -1;
static int status_fd = -1;
static pid_t child = -1;
static long timeout_seconds = 1200;  // libFuzzer's default, replaced by the last -timeout= we see

static void die(const char *what) {
  fprintf(stderr, "virtsim-libfuzzer: %s\n", what);
  exit(2);
}

static int write_all(int fd, const void *buf, size_t len) {
  const uint8_t *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static int read_all(int fd, void *buf, size_t len) {
  uint8_t *p = buf;
  while (len > 0) {
    ssize_t n = read(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static const char *find_command(int argc, char **argv) {
  static const char prefix[] = "--virtsim=";
  for (int i = 1; i < argc; i++)
    if (strncmp(argv[i], prefix, sizeof prefix - 1) == 0) return argv[i] + sizeof prefix - 1;
  return getenv("VIRTSIM_CMD");
}

// Reads libFuzzer's -timeout (the last one wins, as in libFuzzer's own parsing); when there is none, puts
// DEFAULT_TIMEOUT after argv[0] (LLVMFuzzerInitialize may change argv; libFuzzer parses it afterwards).
static void settle_timeout(int *argc, char ***argv) {
  static const char prefix[] = "-timeout=";
  int found = 0;
  for (int i = 1; i < *argc; i++) {
    if (strncmp((*argv)[i], prefix, sizeof prefix - 1) == 0) {
      timeout_seconds = strtol((*argv)[i] + sizeof prefix - 1, NULL, 10);
      found = 1;
    }
  }
  if (found) return;
  char **grown = calloc((size_t)*argc + 2, sizeof *grown);
  if (!grown) die("out of memory");
  grown[0] = (*argv)[0];
  grown[1] = DEFAULT_TIMEOUT;
  for (int i = 1; i < *argc; i++) grown[i + 1] = (*argv)[i];
  *argc += 1;
  *argv = grown;
  timeout_seconds = DEFAULT_TIMEOUT_SECONDS;
  fprintf(stderr, "virtsim-libfuzzer: no -timeout given; using %s\n", DEFAULT_TIMEOUT);
}

static void set_cloexec(int fd) {
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) die("fcntl(FD_CLOEXEC) failed");
}

// Starts `sh -c command` with the segment and the child's pipe ends named in its environment.
static void start_child(const char *command, int id) {
  int control[2], status[2];
  if (pipe(control) || pipe(status)) die("pipe failed");
  // Our ends stay ours: later children (libFuzzer's -fork/-jobs workers) must not hold them open.
  set_cloexec(control[1]);
  set_cloexec(status[0]);
  child = fork();
  if (child < 0) die("fork failed");
  if (child == 0) {
    char text[32];
    snprintf(text, sizeof text, "%d", id);
    setenv("__LIBFUZZER_SHM_ID", text, 1);
    snprintf(text, sizeof text, "%d", control[0]);
    setenv("__LIBFUZZER_CONTROL_PIPE_ID", text, 1);
    snprintf(text, sizeof text, "%d", status[1]);
    setenv("__LIBFUZZER_STATUS_PIPE_ID", text, 1);
    execl("/bin/sh", "sh", "-c", command, (char *)NULL);
    _exit(127);
  }
  close(control[0]);
  close(status[1]);
  control_fd = control[1];
  status_fd = status[0];
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  const char *command = find_command(*argc, *argv);
  if (!command || !*command)
    die("no virtsim command: pass --virtsim='dotnet .build/virtsim/virtsim.dll fuzz libfuzzer --target <t>'");
  settle_timeout(argc, argv);

  int id = shmget(IPC_PRIVATE, MAP_SIZE + INPUT_BYTES_MAX, IPC_CREAT | IPC_EXCL | 0600);
  if (id < 0) die("shmget failed");
  segment = shmat(id, NULL, 0);
  if (segment == (void *)-1) die("shmat failed");
  // Linux lets a segment marked for removal still be attached by id, so nothing leaks when we die.
  shmctl(id, IPC_RMID, NULL);

  start_child(command, id);
  signal(SIGPIPE, SIG_IGN);

  int32_t hello;
  if (read_all(status_fd, &hello, sizeof hello))
    die("virtsim exited before the handshake (run its command alone to see why)");
  if (hello != 0) die("virtsim answered an unknown handshake (is its command `fuzz libfuzzer --target <t>`?)");
  fprintf(stderr, "virtsim-libfuzzer: virtsim (pid %d) is up\n", (int)child);
  return 0;
}

// True when the child ended with a hang: it exits 128 + SIGALRM after reporting one (or a shell between us
// reports its death by SIGALRM so).
static int child_reported_hang(void) {
  int ws;
  pid_t got;
  while ((got = waitpid(child, &ws, 0)) < 0 && errno == EINTR) continue;
  if (got != child) return 0;
  return (WIFEXITED(ws) && WEXITSTATUS(ws) == HANG_EXIT_CODE) || (WIFSIGNALED(ws) && WTERMSIG(ws) == SIGALRM);
}

__attribute__((noreturn)) static void report_finding(int died) {
  if (child_reported_hang()) {
    if (timeout_seconds > 0) {
      fprintf(stderr, "virtsim-libfuzzer: virtsim reports a hang (its line is above); waiting for libFuzzer's "
                      "-timeout=%ld to save it as a timeout\n", timeout_seconds);
      // libFuzzer's SIGALRM handler ends the process once this input has run for -timeout seconds.
      for (;;) pause();
    }
    fprintf(stderr, "virtsim-libfuzzer: virtsim reports a hang; -timeout is off, so it is saved as a crash\n");
  } else if (died) {
    // The .NET process died mid-run (stack overflow, runtime abort): that is a crash of this input too.
    fprintf(stderr, "virtsim-libfuzzer: virtsim died while running this input\n");
  } else {
    fprintf(stderr, "virtsim-libfuzzer: virtsim reports a finding (its line is above)\n");
  }
  abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  // Longer inputs are cut to what the segment holds, as AFL cuts test cases to its MAX_FILE.
  int32_t length = (int32_t)(size > INPUT_BYTES_MAX ? INPUT_BYTES_MAX : size);
  int32_t status;
  memset(segment, 0, MAP_SIZE);
  memcpy(segment + MAP_SIZE, data, (size_t)length);
  if (write_all(control_fd, &length, sizeof length) || read_all(status_fd, &status, sizeof status))
    report_finding(1);
  memcpy(extra_counters, segment, MAP_SIZE);
  if (status != 0) report_finding(0);
  return 0;
}
