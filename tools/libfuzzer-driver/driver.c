// virtsim's libFuzzer driver: libFuzzer (linked with -fsanitize=fuzzer) runs here and forwards every input to a
// long-lived `virtsim fuzz --target <t> --libfuzzer-driver` process, whose IL edge coverage comes back through a
// System V shared-memory map and is copied into libFuzzer's extra counters, so libFuzzer is guided by the .NET
// edges. The .NET half of the protocol is src/Fuzz/Glue/LibFuzzerPipeServer.cs:
//   fds 200 (driver -> virtsim) and 201 (virtsim -> driver); VIRTSIM_LIBFUZZER_SHM_ID names the map;
//   hello: virtsim writes MAGIC and its map size (host-endian u32 each);
//   per input: we write the length (u32) and the bytes; virtsim runs it, fills the map and answers a status
//   (u32, 0 or the signal a finding maps to); on non-zero we abort() so libFuzzer saves the crash.
// Usage: virtsim-libfuzzer --virtsim='<command>' [libFuzzer flags] <corpus dirs>   (flags starting with "--"
// are ignored by libFuzzer). VIRTSIM_CMD in the environment works too.
#include <errno.h>
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
#define MAGIC 0x4C535601u
#define CONTROL_FD 200
#define STATUS_FD 201
#define INPUT_BYTES_MAX (1u << 20)

// libFuzzer reads this section as extra 8-bit counters on Linux (FuzzerExtraCounters.cpp) and clears it before
// each run; we overwrite it with the .NET map after each run.
__attribute__((used, section("__libfuzzer_extra_counters"))) static uint8_t extra_counters[MAP_SIZE];

static uint8_t *shared_map;
static int control_fd = -1;
static int status_fd = -1;
static pid_t child = -1;

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

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  const char *command = find_command(*argc, *argv);
  if (!command || !*command)
    die("no virtsim command: pass --virtsim='dotnet .build/virtsim/virtsim.dll fuzz --target <t> --libfuzzer-driver'");

  int id = shmget(IPC_PRIVATE, MAP_SIZE, IPC_CREAT | IPC_EXCL | 0600);
  if (id < 0) die("shmget failed");
  shared_map = shmat(id, NULL, 0);
  if (shared_map == (void *)-1) die("shmat failed");
  // Linux lets a segment marked for removal still be attached by id, so nothing leaks when we die.
  shmctl(id, IPC_RMID, NULL);

  int control[2], status[2];
  if (pipe(control) || pipe(status)) die("pipe failed");
  char id_text[32];
  snprintf(id_text, sizeof id_text, "%d", id);

  child = fork();
  if (child < 0) die("fork failed");
  if (child == 0) {
    if (dup2(control[0], CONTROL_FD) < 0 || dup2(status[1], STATUS_FD) < 0) _exit(127);
    close(control[0]); close(control[1]); close(status[0]); close(status[1]);
    setenv("VIRTSIM_LIBFUZZER_SHM_ID", id_text, 1);
    execl("/bin/sh", "sh", "-c", command, (char *)NULL);
    _exit(127);
  }
  close(control[0]);
  close(status[1]);
  control_fd = control[1];
  status_fd = status[0];
  signal(SIGPIPE, SIG_IGN);

  uint32_t hello[2];
  if (read_all(status_fd, hello, sizeof hello)) die("virtsim exited before the handshake (run its command alone to see why)");
  if (hello[0] != MAGIC) die("virtsim answered with an unknown handshake (was --libfuzzer-driver passed?)");
  if (hello[1] > MAP_SIZE) die("virtsim's map is larger than the driver's");
  fprintf(stderr, "virtsim-libfuzzer: virtsim (pid %d) is up, map %u bytes\n", (int)child, hello[1]);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint32_t length = size > INPUT_BYTES_MAX ? INPUT_BYTES_MAX : (uint32_t)size;
  uint32_t status;
  if (write_all(control_fd, &length, sizeof length) || write_all(control_fd, data, length) ||
      read_all(status_fd, &status, sizeof status)) {
    // The .NET process died mid-run (stack overflow, runtime abort): that is a crash of this input too.
    fprintf(stderr, "virtsim-libfuzzer: virtsim died while running this input\n");
    abort();
  }
  memcpy(extra_counters, shared_map, MAP_SIZE);
  if (status != 0) {
    fprintf(stderr, "virtsim-libfuzzer: virtsim reports a finding (signal %u; its line is above)\n", status);
    abort();
  }
  return 0;
}
