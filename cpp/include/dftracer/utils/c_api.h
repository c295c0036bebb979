/*
 * dftracer.utils C ABI: submit native tasks to a dftracer.utils Runtime from
 * another Python extension, whatever compiler, C++ standard library or
 * pybind11 version that extension uses.
 *
 * The runtime's module exports one table of C function pointers
 * (dft_c_api) in a capsule named DFT_C_API_CAPSULE_NAME. Only C types cross
 * it: no coroutine frame, no C++ type, no exception. Every function returns a
 * dft_status and may be called from any thread without the GIL, except the
 * ones marked "GIL held", which take or return Python objects.
 *
 * Versioning: `major` changes when an existing entry changes meaning or
 * layout (a consumer built for another major refuses to load); `minor` grows
 * when entries are appended at the end (a consumer checks
 * DFT_C_API_HAS(api, entry), i.e. `struct_size`, before using an entry newer
 * than the oldest minor it supports). Entries are never removed or reordered
 * within a major version. History:
 *   1.0  the table up to last_error
 *   1.1  when_all, when_any
 *
 * Lifetime: every dft_task* a function hands out is one reference; give it
 * back with release(). A task's context is destroyed (destroy_fn) exactly
 * once, after its run function has returned or when it is cancelled before
 * running, on whichever thread that happens.
 */
#ifndef DFTRACER_UTILS_C_API_H
#define DFTRACER_UTILS_C_API_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DFT_C_API_CAPSULE_NAME "dftracer.utils._core._C_API"
#define DFT_C_API_MAJOR 1
#define DFT_C_API_MINOR 1

/* Python's object type, declared the way Python.h declares it. */
struct _object;

typedef enum dft_status {
  DFT_OK = 0,
  DFT_ERROR = 1,        /* see last_error() for the message */
  DFT_SHUT_DOWN = 2,    /* the runtime no longer accepts work */
  DFT_TIMED_OUT = 3,    /* a wait ran out of time; the task goes on */
  DFT_CANCELLED = 4,    /* the task was cancelled */
  DFT_BAD_ARGUMENT = 5, /* a null pointer, unknown enum value, ... */
  DFT_PENDING = 6       /* returned by a run function: it will complete later */
} dft_status;

typedef enum dft_pool { DFT_POOL_COMPUTE = 0, DFT_POOL_IO = 1 } dft_pool;

typedef enum dft_task_state {
  DFT_TASK_QUEUED = 0,
  DFT_TASK_RUNNING = 1,
  DFT_TASK_COMPLETED = 2,
  DFT_TASK_FAILED = 3,
  DFT_TASK_CANCELLED = 4,
  DFT_TASK_TIMED_OUT = 5
} dft_task_state;

typedef struct dft_runtime dft_runtime; /* borrowed: lives as long as its Python Runtime */
typedef struct dft_task dft_task;       /* counted: see retain()/release() */

/*
 * Runs on a worker of the chosen pool, without the GIL. Complete the task
 * with one of the complete_* functions, or just return:
 *   DFT_OK      and not completed: the task completes with None;
 *   DFT_PENDING the task stays running until a complete_* call (any thread);
 *   any other   and not completed: the task fails with last_error() or a
 *               generic message.
 */
typedef dft_status (*dft_run_fn)(dft_task* task, void* context);
typedef void (*dft_destroy_fn)(void* context);
typedef void (*dft_done_fn)(void* arg);

typedef struct dft_c_api {
  uint32_t struct_size; /* sizeof(dft_c_api) of the exporting module */
  uint16_t major;
  uint16_t minor;

  /* GIL held. The native runtime behind a dftracer.utils.Runtime (or its
   * _NativeRuntime); the pointer stays valid while that object lives. */
  dft_status (*runtime_from_python)(struct _object* runtime, dft_runtime** out);

  /* Submits a task named `name` (UTF-8; NULL or "" for an automatic name).
   * When the runtime has a max_pending bound and that many tasks are
   * pending, waits for room (releasing the GIL if the caller holds it; not
   * interruptible); from one of the runtime's own workers it never waits. */
  dft_status (*submit)(dft_runtime* runtime, const char* name, dft_pool pool, dft_run_fn run, void* context,
                       dft_destroy_fn destroy, dft_task** out);

  /* From inside a task: subtask progress and the cooperative cancel token. */
  dft_status (*report_progress)(dft_task* task, uint64_t completed, uint64_t total);
  dft_status (*cancel_requested)(dft_task* task, int* out);

  /* Completion. The first completion wins; later ones return DFT_ERROR. */
  dft_status (*complete_none)(dft_task* task);
  dft_status (*complete_int64)(dft_task* task, int64_t value);
  dft_status (*complete_double)(dft_task* task, double value);
  dft_status (*complete_bytes)(dft_task* task, const void* data, size_t size);
  dft_status (*complete_string)(dft_task* task, const char* utf8, size_t size);
  dft_status (*complete_object)(dft_task* task, struct _object* value); /* GIL held; borrows */
  dft_status (*complete_error)(dft_task* task, const char* message);

  /* Waiting and state. timeout_s < 0 waits forever. */
  dft_status (*wait)(dft_task* task, double timeout_s);
  dft_status (*cancel)(dft_task* task, int* was_queued);
  dft_status (*get_state)(dft_task* task, dft_task_state* out);
  /* Copies the error message of a failed task (NUL-terminated, truncated). */
  dft_status (*get_error)(dft_task* task, char* buffer, size_t size);
  /* Results of completed tasks, by kind; DFT_BAD_ARGUMENT for another kind. */
  dft_status (*get_int64)(dft_task* task, int64_t* out);
  dft_status (*get_double)(dft_task* task, double* out);
  /* Calls fn(arg) once the task is final: now if it already is, else on the
   * finishing thread. fn must be quick and must not block. */
  dft_status (*add_done_callback)(dft_task* task, dft_done_fn fn, void* arg);

  /* GIL held. A new reference to a _NativeTaskHandle for `task`, which
   * dftracer.utils.Runtime.submit() passes through. */
  dft_status (*to_python)(dft_task* task, struct _object** out);

  dft_status (*retain)(dft_task* task);
  void (*release)(dft_task* task);

  /* The message of this thread's last failed call (valid until its next call). */
  const char* (*last_error)(void);

  /* ---- 1.1: check DFT_C_API_HAS(api, when_all) before using these. ---- */

  /* Combinators: a new task (one reference, like submit's) of the inputs'
   * runtime, named "when_all" / "when_any", that completes without occupying
   * a worker while it waits: each input signals it from its own completion
   * (the add_done_callback mechanism), on the thread that finishes it.
   * tasks[0..n) must be n >= 1 tasks of one runtime; the caller keeps its
   * references to them. A combined task never fails because an input did;
   * read each input's own state and result from the input.
   *
   * when_all: completes once every input is final (completed, failed,
   * cancelled or timed out); its int64 result (get_int64) is the number of
   * inputs that did not complete successfully, so 0 means all completed. */
  dft_status (*when_all)(dft_task* const* tasks, size_t n, dft_task** out);
  /* when_any: completes as soon as one input is final; its int64 result is
   * that input's index in tasks. The other inputs are not cancelled. */
  dft_status (*when_any)(dft_task* const* tasks, size_t n, dft_task** out);
} dft_c_api;

/* True when the table `api` (a const dft_c_api*) has the entry `member`:
 * the exporting module's table is at least that long. */
#define DFT_C_API_HAS(api, member) ((api)->struct_size >= offsetof(dft_c_api, member) + sizeof(((dft_c_api*)0)->member))

#ifdef __cplusplus
}
#endif

#endif /* DFTRACER_UTILS_C_API_H */
