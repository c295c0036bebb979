/* c_api.h must be valid C (not only C++): this file is compiled as C11 and
 * checks the parts of the ABI that consumers rely on at compile time, plus
 * a run-time look at the table layout. */
#include "dftracer/utils/c_api.h"

#include <stddef.h>
#include <stdio.h>

_Static_assert(DFT_OK == 0, "DFT_OK must be 0");
_Static_assert(DFT_PENDING == 6, "status values are part of the ABI");
_Static_assert(DFT_TASK_TIMED_OUT == 5, "task state values are part of the ABI");
_Static_assert(offsetof(dft_c_api, struct_size) == 0, "the table starts with its size");
_Static_assert(offsetof(dft_c_api, major) == 4, "then the major version");
_Static_assert(offsetof(dft_c_api, minor) == 6, "then the minor version");
/* 1.1 appended its entries right after 1.0's last one: a 1.0 consumer's
 * table is a prefix of this one. */
_Static_assert(offsetof(dft_c_api, when_all) == offsetof(dft_c_api, last_error) + sizeof(void (*)(void)),
               "1.1 entries follow 1.0's last entry");
_Static_assert(offsetof(dft_c_api, when_any) == offsetof(dft_c_api, when_all) + sizeof(void (*)(void)),
               "entries are appended in order");
_Static_assert(DFT_C_API_MINOR >= 1, "this header has the 1.1 entries");

static dft_status run_nothing(dft_task* task, void* context) {
  (void)task;
  (void)context;
  return DFT_OK;
}

int main(void) {
  dft_run_fn fn = run_nothing;
  dft_c_api table = {0};
  table.struct_size = (uint32_t)sizeof table;
  table.major = DFT_C_API_MAJOR;
  table.minor = DFT_C_API_MINOR;
  if (fn(NULL, NULL) != DFT_OK || table.major != 1) return 1;
  /* DFT_C_API_HAS: a full table has the 1.1 entries, one cut at 1.0's end does not. */
  if (!DFT_C_API_HAS(&table, when_any)) return 1;
  table.struct_size = (uint32_t)offsetof(dft_c_api, when_all);
  if (DFT_C_API_HAS(&table, when_all) || !DFT_C_API_HAS(&table, last_error)) return 1;
  table.struct_size = (uint32_t)sizeof table;
  printf("c_api.h compiles as C; table of %u bytes, ABI %u.%u\n", (unsigned)table.struct_size, (unsigned)table.major,
         (unsigned)table.minor);
  return 0;
}
