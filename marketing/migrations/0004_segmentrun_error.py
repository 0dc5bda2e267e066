from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("marketing", "0003_campaign_claims")]

    operations = [
        migrations.AddField(
            model_name="segmentrun",
            name="error",
            field=models.TextField(
                blank=True,
                default="",
                help_text="Empty: evaluated. Otherwise why the evaluation failed; the members stayed as they were.",
                verbose_name="failed",
            ),
            preserve_default=False,
        ),
    ]
