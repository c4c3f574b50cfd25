CREATE TABLE "fhir_submission_batches" (
	"batch_id" uuid NOT NULL,
	"position" integer NOT NULL,
	"registration_id" uuid NOT NULL,
	"api_client_id" uuid NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "fhir_submission_batches_batch_id_position_pk" PRIMARY KEY("batch_id","position")
);
--> statement-breakpoint
CREATE TABLE "fhir_submissions" (
	"registration_id" uuid PRIMARY KEY NOT NULL,
	"api_client_id" uuid NOT NULL,
	"identifier_system" text,
	"identifier_value" text,
	"bundle_id" text,
	"bundle_entry" integer,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "fhir_submission_batches_created_idx" ON "fhir_submission_batches" USING btree ("created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "fhir_submissions_identifier_key" ON "fhir_submissions" USING btree ("identifier_system","identifier_value") WHERE "fhir_submissions"."identifier_value" is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "fhir_submissions_bundle_key" ON "fhir_submissions" USING btree ("api_client_id","bundle_id","bundle_entry") WHERE "fhir_submissions"."bundle_id" is not null;