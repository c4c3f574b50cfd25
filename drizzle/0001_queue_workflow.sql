CREATE TABLE "acuity_targets" (
	"acuity" smallint PRIMARY KEY NOT NULL,
	"minutes" integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE "queue_transitions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"entry_id" uuid NOT NULL,
	"kind" text NOT NULL,
	"from_status" text NOT NULL,
	"to_status" text NOT NULL,
	"by_id" uuid NOT NULL,
	"by_name" text NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	"clinician_id" uuid,
	"clinician_name" text,
	"room_id" uuid,
	"room_name" text,
	"previous" jsonb NOT NULL,
	"undone_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "rooms" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"archived_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "triage_assessments" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"entry_id" uuid NOT NULL,
	"acuity" smallint NOT NULL,
	"note" text,
	"by_id" uuid NOT NULL,
	"by_name" text NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
DROP INDEX "queue_entries_arrived_at_idx";--> statement-breakpoint
ALTER TABLE "queue_entries" ADD COLUMN "status_changed_at" timestamp with time zone DEFAULT now() NOT NULL;--> statement-breakpoint
ALTER TABLE "queue_entries" ADD COLUMN "acuity" smallint;--> statement-breakpoint
ALTER TABLE "queue_entries" ADD COLUMN "clinician_id" uuid;--> statement-breakpoint
ALTER TABLE "queue_entries" ADD COLUMN "clinician_name" text;--> statement-breakpoint
ALTER TABLE "queue_entries" ADD COLUMN "room_id" uuid;--> statement-breakpoint
ALTER TABLE "queue_entries" ADD COLUMN "room_name" text;--> statement-breakpoint
ALTER TABLE "queue_entries" ADD COLUMN "possible_duplicate" boolean DEFAULT false NOT NULL;--> statement-breakpoint
UPDATE "queue_entries" SET "status_changed_at" = "arrived_at";--> statement-breakpoint
ALTER TABLE "queue_transitions" ADD CONSTRAINT "queue_transitions_entry_id_queue_entries_id_fk" FOREIGN KEY ("entry_id") REFERENCES "public"."queue_entries"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "triage_assessments" ADD CONSTRAINT "triage_assessments_entry_id_queue_entries_id_fk" FOREIGN KEY ("entry_id") REFERENCES "public"."queue_entries"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "queue_transitions_entry_idx" ON "queue_transitions" USING btree ("entry_id","at");--> statement-breakpoint
CREATE UNIQUE INDEX "rooms_name_active_key" ON "rooms" USING btree (lower("name")) WHERE "rooms"."archived_at" is null;--> statement-breakpoint
CREATE INDEX "triage_assessments_entry_idx" ON "triage_assessments" USING btree ("entry_id","at");--> statement-breakpoint
CREATE INDEX "queue_entries_active_order_idx" ON "queue_entries" USING btree ("acuity","arrived_at") WHERE "queue_entries"."status" in ('waiting', 'in_triage', 'with_clinician');