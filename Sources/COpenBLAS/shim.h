#ifndef IOSIM_COPENBLAS_SHIM_H
#define IOSIM_COPENBLAS_SHIM_H
// Debian installs cblas.h under the OpenBLAS variant's include directory (found via pkg-config)
// and lapacke.h under /usr/include.
#include <cblas.h>
#include <lapacke.h>
#endif
