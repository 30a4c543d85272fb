#ifndef BACKSTOP_CDEFLATE_SHIM_H
#define BACKSTOP_CDEFLATE_SHIM_H
#include <libdeflate.h>
#endif
