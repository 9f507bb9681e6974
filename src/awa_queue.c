/*-------------------------------------------------------------------------
 *
 * awa_queue.c
 *	  Module entry point of the awa_queue extension.
 *
 * _PG_init only calls the per-file initialisation functions; everything
 * else lives in the file of its concern.
 *
 * Copyright (c) 2026, awa_queue developers
 *
 * IDENTIFICATION
 *	  src/awa_queue.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

#include "awa_queue.h"

PG_MODULE_MAGIC;

#if PG_VERSION_NUM < 160000
void		_PG_init(void);
#endif

/*
 * _PG_init
 *		Called once when the library is loaded into a backend.
 */
void
_PG_init(void)
{
	AwaGucInit();
	AwaPlannerInit();
	AwaQueueMetaInit();
}
