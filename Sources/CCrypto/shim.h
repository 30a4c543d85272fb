#ifndef BACKSTOP_CCRYPTO_SHIM_H
#define BACKSTOP_CCRYPTO_SHIM_H
#include <openssl/evp.h>
#endif
