ALTER TABLE "outbox" ADD COLUMN "discarded_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "outbox" ADD COLUMN "discarded_by" uuid;--> statement-breakpoint
ALTER TABLE "outbox" ADD COLUMN "discard_reason" text;