/* err.c — text for the project's error codes. */
#include "core/err.h"

const char *err_str(int code)
{
	switch (code) {
	case ERR_OK:
		return "ok";
	case ERR_NEED_MORE:
		return "incomplete input";
	case ERR_MALFORMED:
		return "malformed input";
	case ERR_LIMIT:
		return "limit exceeded";
	case ERR_NOMEM:
		return "out of memory or buffer maximum reached";
	case ERR_SYS:
		return "system call failed";
	case ERR_CONFIG:
		return "invalid configuration";
	case ERR_CORRUPT:
		return "corrupt data";
	case ERR_FULL:
		return "queue full";
	case ERR_INVAL:
		return "invalid argument";
	case ERR_NOT_FOUND:
		return "not found";
	case ERR_END:
		return "end of data";
	case ERR_UNSUPPORTED:
		return "unsupported";
	}
	return "unknown error";
}
