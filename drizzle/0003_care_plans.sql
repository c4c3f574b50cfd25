CREATE TABLE "care_plans" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"patient_id" uuid NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"replaces_plan_id" uuid,
	"title" text NOT NULL,
	"goals" text NOT NULL,
	"instructions" text NOT NULL,
	"status" text DEFAULT 'draft' NOT NULL,
	"drafted_by_id" uuid NOT NULL,
	"drafted_by_name" text NOT NULL,
	"drafted_at" timestamp with time zone DEFAULT now() NOT NULL,
	"approved_by_id" uuid,
	"approved_by_name" text,
	"approved_at" timestamp with time zone,
	"rejected_by_id" uuid,
	"rejected_by_name" text,
	"rejected_at" timestamp with time zone,
	"rejection_reason" text,
	"superseded_at" timestamp with time zone
);
--> statement-breakpoint
CREATE INDEX "care_plans_patient_idx" ON "care_plans" USING btree ("patient_id","drafted_at");